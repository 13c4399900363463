"""Dictionary steps: closed-form least squares (MOD) and gradient steps.

Both minimise ``||X - code @ components||^2`` over ``components`` for fixed
codes, then put the rows back on the unit sphere (the paper's constraint) and
re-seed the atoms no sample used. Both are scale-equivariant: scaling ``X`` and
``code`` by ``c`` leaves the new ``components`` unchanged, so fitting ``c * X``
gives the same dictionary (Deng et al. 2023 need this for scale invariance).
"""

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numba import prange
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import row_norms

from ..utils import parallel_kernel

# Ridge added to code.T @ code before solving, relative to its mean diagonal:
# keeps the solve defined when atoms are unused or exactly collinear.
_RIDGE = 1e-8
# Above this share of non-zero codes, code.T @ code is formed densely.
_DENSE_GRAM_DENSITY = 1 / 4
# Accumulate code.T @ code in two threads while a private copy is this small.
_PRIVATE_GRAM_BYTES = 1 << 28


# Rows and columns per tile when the upper triangle is mirrored: both the
# rows read and the columns written stay in cache.
_MIRROR_TILE = 64


@parallel_kernel(cache=True)
def _csr_gram(indptr, indices, data, n_atoms, n_chunks):
    # Each sample adds the outer product of its few non-zeros (upper triangle
    # only; indices are sorted within a row): O(nnz^2 / n) per sample, ~10x
    # faster than scipy's general sparse-sparse product. Chunks of samples
    # accumulate into private matrices, summed in place at the end; the upper
    # triangle is then mirrored tile by tile (a 40% faster whole than
    # partial.sum and a row-by-row mirror, at 2048 atoms).
    partial = np.zeros((n_chunks, n_atoms, n_atoms))
    n_samples = indptr.size - 1
    for chunk in prange(n_chunks):
        gram = partial[chunk]
        for j in range(
            chunk * n_samples // n_chunks, (chunk + 1) * n_samples // n_chunks
        ):
            for a in range(indptr[j], indptr[j + 1]):
                i, v = indices[a], data[a]
                row = gram[i]
                for b in range(a, indptr[j + 1]):
                    row[indices[b]] += v * data[b]
    gram = partial[0]
    for chunk in range(1, n_chunks):
        gram += partial[chunk]
    tile = _MIRROR_TILE
    for first_row in prange((n_atoms + tile - 1) // tile):
        low = first_row * tile
        high = min(n_atoms, low + tile)
        for column_block in range(low, n_atoms, tile):
            for i in range(low, high):
                for k in range(
                    max(column_block, i + 1), min(n_atoms, column_block + tile)
                ):
                    gram[k, i] = gram[i, k]
    if n_chunks > 1:
        return gram.copy()  # not a view keeping every private matrix alive
    return gram


def sufficient_statistics(code, X):
    """``(code.T @ code, code.T @ X)`` as dense float64 arrays, for sparse ``code``."""
    code = sp.csr_matrix(code)
    n_samples, n_atoms = code.shape
    gram = np.zeros((n_atoms, n_atoms))
    if code.nnz > _DENSE_GRAM_DENSITY * n_samples * n_atoms:
        # Dense codes (early passes, dense data): k^2 scattered updates per
        # sample lose to a blocked matrix product.
        for start in range(0, n_samples, 2048):
            block = code[start : start + 2048].toarray()
            gram += block.T @ block
    else:
        code.sort_indices()
        n_chunks = 2 if n_atoms * n_atoms * 8 <= _PRIVATE_GRAM_BYTES else 1
        gram = _csr_gram(
            code.indptr, code.indices, code.data.astype(np.float64), n_atoms, n_chunks
        )
    cross = np.asarray(code.T @ np.asarray(X, dtype=np.float64))
    return gram, cross


def mod_step(code_gram, code_cross, components):
    """Method of optimal directions (Engan et al. 1999): exact least squares.

    Solves ``min_D ||X - C D||^2``, i.e. ``(C^T C) D = C^T X``. Rows of atoms no
    sample used come back unchanged (they are re-seeded by the caller).
    """
    used = np.diag(code_gram) > 0
    new = components.copy()
    if not used.any():
        return new
    A = code_gram.copy() if used.all() else code_gram[np.ix_(used, used)]
    ridge = _RIDGE * np.trace(A) / A.shape[0]
    A.flat[:: A.shape[0] + 1] += ridge  # A + ridge * I, in place
    try:
        # Cholesky, then two triangular solves: a fifth faster here than
        # scipy.linalg.solve(assume_a="pos"), same solution to rounding.
        factor = scipy.linalg.cho_factor(A, check_finite=False)
        solved = scipy.linalg.cho_solve(factor, code_cross[used], check_finite=False)
    except np.linalg.LinAlgError:
        solved = scipy.linalg.lstsq(A, code_cross[used], check_finite=False)[0]
    new[used] = solved
    return new


def gradient_step(code, X, components, learning_rate, n_iter=30):
    """One gradient step on ``||X - C D||^2`` with step ``learning_rate / L``, in place.

    The step is ``C^T (X - C D)`` (minus half the gradient) times
    ``learning_rate / L``, with ``L`` the largest eigenvalue of ``C^T C`` (half
    the gradient's Lipschitz constant), so ``learning_rate=1`` is the classical
    1/Lipschitz step and the step is scale-free. It works from the sparse code
    and never forms the ``n_components x n_components`` matrix ``C^T C``: memory
    is ``O(nnz(C) + n_samples * n_features)`` plus the rows of the atoms used,
    so it serves dictionaries far larger than :func:`mod_step` can (65536
    atoms and more). ``L``, the top eigenvalue of ``C^T C``, comes from power
    iteration with products by ``C`` and ``C^T``. Rows of unused atoms are left
    as they are. Returns ``components``, updated in place.
    """
    code = sp.csr_matrix(code)
    used = np.flatnonzero(np.bincount(code.indices, minlength=code.shape[1]))
    if used.size == 0:
        return components
    C = code[:, used].astype(components.dtype)
    residual = np.asarray(X, dtype=components.dtype) - np.asarray(C @ components[used])
    C_t = C.T.tocsr()
    v = np.ones(used.size, dtype=np.float64)
    lipschitz = 0.0
    for _ in range(n_iter):
        w = C_t @ (C @ v)
        lipschitz = float(np.linalg.norm(w))
        if lipschitz == 0.0:
            return components
        v = w / lipschitz
    lipschitz = float(v @ (C_t @ (C @ v)))
    if lipschitz <= 0:
        return components
    components[used] += (learning_rate / lipschitz) * np.asarray(C_t @ residual)
    return components


def normalize_and_reseed(components, usage, reseed):
    """Unit rows; atoms with no usage (or zero norm) replaced by ``reseed(k)``.

    Works in place on ``components`` (a dictionary can be gigabytes) and
    returns it with the number of atoms re-seeded.
    """
    norms = row_norms(components)
    dead = (usage == 0) | (norms <= np.finfo(components.dtype).eps)
    components /= np.where(dead, 1.0, norms).astype(components.dtype)[:, None]
    dead = np.flatnonzero(dead)
    if dead.size:
        components[dead] = reseed(dead.size)
    return components, int(dead.size)


def residual_directions(X, code, components, sample_error, n_atoms, rng):
    """Unit residuals of the ``n_atoms`` worst reconstructed samples.

    The classic remedy for unused atoms (as in K-SVD): an atom nobody uses is
    moved to where the dictionary fails most. ``code`` and ``components`` are
    those that gave ``sample_error`` (squared residual norm per sample).
    """
    order = np.argsort(-sample_error, kind="stable")
    take = order[: min(n_atoms, X.shape[0])]
    residual = X[take] - sp.csr_matrix(code)[take] @ components
    norms = np.linalg.norm(residual, axis=1)
    scale = max(
        float(np.sqrt(sample_error.max(initial=0.0))), np.finfo(np.float64).tiny
    )
    good = norms > 1e-6 * scale
    directions = np.empty((n_atoms, X.shape[1]), dtype=components.dtype)
    n_good = int(good.sum())
    directions[:n_good] = residual[good] / norms[good, None]
    # Fewer badly reconstructed samples than dead atoms: random directions,
    # drawn in chunks (tens of thousands of dead atoms in a large dictionary).
    for start in range(n_good, n_atoms, 4096):
        fill = rng.standard_normal((min(4096, n_atoms - start), X.shape[1]))
        directions[start : start + fill.shape[0]] = normalize(fill, copy=False)
    return directions
