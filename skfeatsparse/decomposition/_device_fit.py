"""The whole fit on a torch device: coding, statistics, dictionary step, re-seeding.

With ``device="cuda"`` (any torch device but the default ``"cpu"``)
:class:`GreedyL1DictionaryLearning` keeps the centred data, the dictionary
and every per-pass statistic on the device, in float32 (the statistics of
the MOD step and the objective's sums in float64, except on MPS which has
none). A pass is then, per block of rows, the greedy pursuit of
:mod:`._greedy` (its torch engine), the block's terms of the objective and
its share of the statistics; after the last block, the dictionary step and
the re-seeding of dead atoms. Nothing goes back to the host but a few
scalars per block (has a sample reached the step cap?) and per pass (the
objective, the number of dead atoms). It mirrors the CPU pass of
``_dict_learning`` (same schedule, same random draws), so the two fits agree
up to float32 rounding.
"""

import numpy as np

from ..utils import torch_device
from ._dictionary_step import _RIDGE  # the CPU step's, for the same solve
from ._greedy import (
    DEFAULT_RTOL,
    _torch_greedy_block,
    block_rows,
    count_capped,
    gram_fits,
)
from ._objective import ObjectiveSums

# Power iterations for the curvature of the gradient step (as on the CPU).
_POWER_ITERATIONS = 30
# code.T @ code of a block is summed from each row's k non-zeros (k^2 pairs
# per row) when k^2 * this < n_components^2, else as a matrix product; the
# pairs are added at most this many at a time.
_SPARSE_GRAM_RATIO = 16
_GRAM_PAIRS = 1 << 24


def fit_device(device):
    """The ``torch.device`` a fit runs on, or None for the compiled CPU path.

    ``"cpu"`` (the default) is the numba engine with numpy statistics; any
    other name is checked by :func:`~skfeatsparse.utils.torch_device`.
    """
    if isinstance(device, str) and device == "cpu":
        return None
    return torch_device(device)


def statistics_dtype(device):
    """float64 for sums and the MOD solve, float32 where the device lacks it."""
    import torch

    return torch.float32 if device.type == "mps" else torch.float64


def to_device(X, device):
    """``X`` (numpy or tensor) as a float32 tensor on ``device``."""
    import torch

    return torch.as_tensor(X, device=device).to(torch.float32)


def device_pass(
    X, components, alpha, *, kept, forget, dictionary_step, batch_size,
    learning_rate, max_steps, rng, dead_usage,
):  # fmt: skip
    """One alternation on the device (see ``GreedyL1DictionaryLearning._pass``).

    ``X`` and ``components`` are float32 tensors on one device; ``kept``
    the statistics of earlier passes (tensors or arrays) and ``forget`` their
    weight. Returns ``(new components, statistics, sums, n_dead, n_capped)``,
    ``sums`` an :class:`ObjectiveSums` of the pass.
    """
    import torch

    device, acc = components.device, statistics_dtype(components.device)
    n_atoms, n_features = components.shape
    half_alpha = alpha / 2
    stop = DEFAULT_RTOL[np.dtype(np.float32)] * half_alpha
    rows = block_rows(batch_size, n_atoms, components.element_size())
    # sq_error, l1, max_coef, nonzero summed over the pass, on the device.
    totals = torch.zeros(4, dtype=acc, device=device)
    usage = torch.zeros(n_atoms, dtype=acc, device=device)
    errors, n_capped = [], 0
    mod = dictionary_step == "mod"
    if mod:
        gram = torch.zeros((n_atoms, n_atoms), dtype=acc, device=device)
        cross = torch.zeros((n_atoms, n_features), dtype=acc, device=device)
        chunk = max(X.shape[0], 1)  # one dictionary step after all samples
    else:
        chunk = batch_size  # one gradient step per mini-batch
    old, current = components, components.clone()
    for begin in range(0, X.shape[0], chunk):
        X_chunk = X[begin : begin + chunk]
        atom_gram = None
        if gram_fits(n_atoms, current.element_size()):
            atom_gram = current @ current.T
        codes = []
        for start in range(0, X_chunk.shape[0], rows):
            X_block = X_chunk[start : start + rows]
            code, n_steps = _torch_greedy_block(
                X_block, current, atom_gram, half_alpha, stop, max_steps
            )
            n_capped += count_capped(X_block, code, current, alpha, n_steps, max_steps)
            residual = X_block - code @ current
            error = torch.einsum("ij,ij->i", residual, residual)
            errors.append(error)
            active = code > 0
            totals += torch.stack(
                [
                    error.sum(dtype=acc),
                    code.sum(dtype=acc),
                    code.max(dim=1).values.sum(dtype=acc),
                    active.sum().to(acc),
                ]
            )
            usage += active.sum(dim=0).to(acc)
            if mod:
                add_code_gram(gram, code, active)
                cross += (code.T @ X_block).to(acc)
            else:
                codes.append(code.to_sparse())
        if not mod:
            gradient_step(torch.cat(codes), X_chunk, current, learning_rate)
            norms = current.norm(dim=1, keepdim=True)
            current /= torch.where(norms == 0, 1.0, norms)
    error = torch.cat(errors) if errors else torch.zeros(0, device=device)
    statistics = {}
    if mod:
        if "gram" in kept and tuple(kept["gram"].shape) == tuple(gram.shape):
            gram += forget * torch.as_tensor(kept["gram"], device=device).to(acc)
            cross += forget * torch.as_tensor(kept["cross"], device=device).to(acc)
        new = mod_step(gram, cross, old.to(acc))
        statistics = {"gram": gram, "cross": cross}
    else:
        new = current
    if "usage" in kept and tuple(kept["usage"].shape) == tuple(usage.shape):
        usage += forget * torch.as_tensor(kept["usage"], device=device).to(acc)
    dead = usage < dead_usage
    new, n_dead = normalize_and_reseed(
        new,
        torch.where(dead, 0.0, usage),
        lambda k: residual_directions(
            X, old, error, k, rng, half_alpha=half_alpha, stop=stop,
            max_steps=max_steps,
        ),
    )  # fmt: skip
    if n_dead:
        # A re-seeded atom starts afresh: nothing kept speaks for it.
        usage[dead] = 0.0
        if mod:
            gram[dead] = 0.0
            gram[:, dead] = 0.0
            cross[dead] = 0.0
    statistics["usage"] = usage
    statistics["n_samples"] = forget * kept.get("n_samples", 0.0) + X.shape[0]
    sq_error, l1, max_coef, nonzero = totals.tolist()  # the pass's one transfer
    sums = ObjectiveSums(X.shape[0], sq_error, l1, max_coef, nonzero)
    return new.to(torch.float32), statistics, sums, n_dead, n_capped


def add_code_gram(gram, code, active):
    """``gram += code.T @ code`` for a block of codes, in ``gram``'s dtype.

    Sparse codes (at most ``k`` atoms per row, ``k`` well below the number
    of atoms) add the products of each row's ``k`` largest entries, ``k^2``
    per row, instead of a dense product of ``n_components^2`` per row: at
    16d dictionaries the dense product would cost several times the coding.
    Dense codes (early passes) take the matrix product.
    """

    n_atoms = code.shape[1]
    k = int(active.sum(dim=1).max()) if code.shape[0] else 0
    if k == 0:
        return gram
    if k * k * _SPARSE_GRAM_RATIO > n_atoms * n_atoms:
        gram += (code.T @ code).to(gram.dtype)
        return gram
    flat = gram.view(-1)
    step = max(1, _GRAM_PAIRS // (k * k))  # rows at once: bounded memory
    for start in range(0, code.shape[0], step):
        values, index = code[start : start + step].topk(k, dim=1)
        values = values.to(gram.dtype)
        flat.index_add_(
            0,
            (index[:, :, None] * n_atoms + index[:, None, :]).reshape(-1),
            (values[:, :, None] * values[:, None, :]).reshape(-1),
        )
    return gram


def mod_step(code_gram, code_cross, components):
    """:func:`._dictionary_step.mod_step` in torch: ``(C^T C) D = C^T X``.

    Cholesky with the CPU's relative ridge; where that fails (numerically
    singular), the pseudo-inverse from the eigendecomposition. Rows of unused
    atoms come back unchanged.
    """
    import torch

    used = torch.diagonal(code_gram) > 0
    new = components.clone()
    index = used.nonzero().reshape(-1)
    if index.numel() == 0:
        return new
    A = code_gram[index][:, index]
    A = A + (_RIDGE * torch.trace(A) / A.shape[0]) * torch.eye(
        A.shape[0], dtype=A.dtype, device=A.device
    )
    B = code_cross[index]
    factor, info = torch.linalg.cholesky_ex(A)
    if int(info) == 0:
        solved = torch.cholesky_solve(B, factor)
    else:
        values, vectors = torch.linalg.eigh(A)
        keep = values > values.max() * A.shape[0] * torch.finfo(A.dtype).eps
        inverse = torch.where(keep, 1.0 / torch.where(keep, values, 1.0), 0.0)
        solved = vectors @ (inverse[:, None] * (vectors.T @ B))
    new[index] = solved
    return new


def gradient_step(code, X, components, learning_rate):
    """:func:`._dictionary_step.gradient_step` in torch, in place.

    ``code`` is a sparse COO tensor (the mini-batch's codes): no
    ``n_components x n_components`` matrix is formed. Step
    ``learning_rate / L``, ``L`` the top eigenvalue of ``C^T C`` by power
    iteration (rows of unused atoms get a zero step).
    """
    import torch

    code = code.coalesce()
    code_t = code.t().coalesce()
    residual = X - torch.sparse.mm(code, components)
    v = torch.zeros(code.shape[1], 1, dtype=components.dtype, device=X.device)
    v[code.indices()[1]] = 1.0  # the used atoms
    tiny = torch.finfo(components.dtype).tiny
    for _ in range(_POWER_ITERATIONS):
        w = torch.sparse.mm(code_t, torch.sparse.mm(code, v))
        v = w / w.norm().clamp_min(tiny)  # a zero code keeps v = 0
    lipschitz = float((v * torch.sparse.mm(code_t, torch.sparse.mm(code, v))).sum())
    if lipschitz > 0:
        components += (learning_rate / lipschitz) * torch.sparse.mm(code_t, residual)
    return components


def normalize_and_reseed(components, usage, reseed):
    """:func:`._dictionary_step.normalize_and_reseed` in torch, in place."""
    import torch

    norms = components.norm(dim=1)
    dead = (usage == 0) | (norms <= torch.finfo(components.dtype).eps)
    components /= torch.where(dead, 1.0, norms)[:, None]
    dead = dead.nonzero().reshape(-1)
    if dead.numel():
        components[dead] = reseed(dead.numel()).to(components.dtype)
    return components, int(dead.numel())


def residual_directions(X, components, sample_error, n_atoms, rng, **pursuit):
    """:func:`._dictionary_step.residual_directions` in torch.

    The worst reconstructed samples are coded again with ``components`` (the
    pass's starting dictionary, which coded them; ``pursuit`` holds the
    greedy step's ``half_alpha``, ``stop`` and ``max_steps``) rather than
    keeping every code of the pass. The random directions, where there are
    too few such samples, come from ``rng`` on the host, as on the CPU.
    """
    import torch

    order = torch.argsort(-sample_error, stable=True)
    take = order[: min(n_atoms, X.shape[0])]
    code, _ = _torch_greedy_block(X[take], components, None, **pursuit)
    residual = X[take] - code @ components
    norms = residual.norm(dim=1)
    scale = max(
        float(sample_error.max().sqrt()) if sample_error.numel() else 0.0,
        np.finfo(np.float64).tiny,
    )
    good = norms > 1e-6 * scale
    directions = torch.empty(
        (n_atoms, X.shape[1]), dtype=components.dtype, device=X.device
    )
    n_good = int(good.sum())
    directions[:n_good] = residual[good] / norms[good, None]
    for start in range(n_good, n_atoms, 4096):
        fill = rng.standard_normal((min(4096, n_atoms - start), X.shape[1]))
        fill /= np.linalg.norm(fill, axis=1, keepdims=True)
        directions[start : start + fill.shape[0]] = torch.as_tensor(
            fill, device=X.device
        ).to(components.dtype)
    return directions
