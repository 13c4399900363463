"""The coding step of Deng, Tao & Benton (2023), Appendix C: greedy L1 pursuit.

For one sample ``x`` and a dictionary with unit rows, repeat: take the atom
``f`` with the largest dot product with the residual, give it the coefficient
``<r, f> - alpha / 2`` (the projection under the L1 penalty), subtract
``coefficient * f`` from the residual; stop at the first coefficient that is
not positive. Each step lowers ``||x - code @ D||^2 + alpha * ||code||_1`` by
exactly ``coefficient ** 2``.

Two engines compute the same code:

* a compiled per-sample loop (numba) that keeps one row of correlations in cache
  and updates it with rows of the Gram matrix ``D @ D.T`` -- the CPU default;
* a block-vectorised torch loop over steps (all unfinished samples of a block
  advance one step at a time), used on GPUs and, with Gram rows computed on the
  fly, when the ``n_components x n_components`` Gram matrix would not fit.
"""

import numbers
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from numba import prange
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, validate_params

from ..utils import (
    in_forked_child,
    parallel_kernel,
    serial_kernel,
    torch_device,
    vector_max,
)

# The literal stopping rule "coefficient <= 0" can cycle for ever in floating
# point between near-duplicate atoms (the residual bounces between them with a
# coefficient one ulp above zero). Stopping at rtol * alpha / 2 fixes it; in
# float64, 1e-9 leaves every metric unchanged to three decimals.
DEFAULT_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}

# Above this size the Gram matrix is not formed; its rows are computed on demand.
GRAM_MAX_BYTES = 1 << 30
# A block's correlations (rows x n_components) stay below this: with very many
# atoms, fewer samples are coded at once than batch_size asks for.
BLOCK_MAX_BYTES = 1 << 28


def float_dtypes(X):
    """Dtypes accepted for ``X`` (``check_array``/``validate_data``'s ``dtype``).

    float64 and float32 stay as they are; float16 (half-precision
    activations) is upcast to float32, anything else to float64.
    """
    if getattr(X, "dtype", None) == np.float16:
        return [np.float32, np.float64]
    return [np.float64, np.float32]


def gram_fits(n_atoms, itemsize):
    """Whether the ``n_atoms x n_atoms`` Gram matrix is formed (``GRAM_MAX_BYTES``)."""
    return n_atoms * n_atoms * itemsize <= GRAM_MAX_BYTES


def block_rows(batch_size, n_atoms, itemsize):
    """Rows coded at once: ``batch_size``, fewer when a block of correlations
    would pass ``BLOCK_MAX_BYTES`` (very large dictionaries)."""
    return max(1, min(batch_size, BLOCK_MAX_BYTES // (n_atoms * itemsize)))


def default_max_steps(n_features):
    """Default cap on greedy steps per sample: ``max(64, 4 * n_features)``."""
    return max(64, 4 * int(n_features))


def resolve_max_steps(max_steps, n_features):
    """``max_steps``, or the default cap for ``n_features`` when it is None."""
    return default_max_steps(n_features) if max_steps is None else int(max_steps)


# A sample stopped by max_steps counts as capped (and warned about) only if its
# next greedy step would still lower its objective by more than this fraction:
# the pursuit often ends in a tail of vanishing steps (near-duplicate atoms
# trading a residual back and forth) where more steps change nothing.
CAPPED_RTOL = 1e-4


def count_capped(X, code, components, alpha, n_steps, max_steps):
    """Samples whose pursuit was cut short by ``max_steps`` *materially*.

    Those that reached the cap while their next step, of coefficient
    ``max <residual, atom> - alpha / 2``, would still lower their objective
    ``||residual||^2 + alpha * ||code||_1`` by more than ``CAPPED_RTOL`` times
    itself (a step lowers it by the coefficient squared). Numpy arrays or
    torch tensors (then on one device).
    """
    capped = n_steps >= max_steps
    if not bool(capped.any()):
        return 0
    n_capped = 0
    rows = capped.nonzero()[0] if isinstance(capped, np.ndarray) else capped.nonzero()
    rows = rows.reshape(-1)
    for start in range(0, rows.shape[0], 1024):  # a few MiB at a time
        take = rows[start : start + 1024]
        X_take, code_take = X[take], code[take]
        if isinstance(X_take, np.ndarray):  # float64: squares of large float32
            X_take, code_take = X_take.astype(np.float64), code_take.astype(float)
        else:
            X_take, code_take = X_take.double(), code_take.double()
        components = (
            components.astype(float)
            if isinstance(components, np.ndarray)
            else components.double()
        )
        residual = X_take - code_take @ components
        correlation = residual @ components.T
        if isinstance(correlation, np.ndarray):
            coef = correlation.max(axis=1) - alpha / 2
        else:
            coef = correlation.max(dim=1).values - alpha / 2
        objective = (residual**2).sum(1) + alpha * code_take.sum(1)
        n_capped += int(((coef > 0) & (coef**2 > CAPPED_RTOL * objective)).sum())
    return n_capped


def warn_capped(
    n_capped, n_samples, max_steps, *, what="samples", penalty="alpha", stacklevel=2
):
    """The one warning for samples whose pursuit reached ``max_steps`` while
    more steps would still change their objective (:func:`count_capped`)."""
    if n_capped:
        warnings.warn(
            f"{n_capped} of {n_samples} {what} reached max_steps={max_steps} greedy "
            "steps while their next step would still lower their objective by "
            f"more than {CAPPED_RTOL:g} (relative); raise max_steps (e.g. "
            f"max_steps={2 * max_steps}) or {penalty} (sparser codes need fewer "
            "steps).",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )


# Atoms per block of a sample's correlations: each greedy step rewrites a
# block and takes its maximum in one vectorised loop; the step's atom is then
# found in the block holding the largest maximum (16 maxima and one block
# scanned, not the whole row).
MAX_BLOCK = 128


_FASTMATH = {"reassoc", "nnan", "nsz"}


@serial_kernel(cache=True, boundscheck=False, fastmath=_FASTMATH, inline="always")
def _block_max(c, low, high):
    value = c[low]
    for i in range(low, high):
        value = vector_max(value, c[i])
    return value


@serial_kernel(cache=True, boundscheck=False, fastmath=_FASTMATH, inline="always")
def _update_block(c, g, coef, low, high):
    """``c[low:high] -= coef * g[low:high]``; returns the block's new maximum."""
    value = c[low] - coef * g[low]
    for i in range(low, high):
        updated = c[i] - coef * g[i]
        c[i] = updated
        value = vector_max(value, updated)
    return value


# One sample's pursuit. Each greedy step reads one Gram row and rewrites the
# sample's correlations ``c`` (both in the pass's dtype: float32 passes stream
# half the bytes) block by block, keeping each block's maximum
# (``vector_max``; numba's ``max`` would keep it scalar). "reassoc", "nnan"
# and "nsz" let LLVM vectorise those reductions; they cannot change any value
# (max is exact, inputs are checked finite, and "contract" is left out so
# c - coef * g rounds as written). The atom taken is the first index holding
# the exact maximum, as np.argmax gives. Every block has the constant length
# MAX_BLOCK: ``c`` and the Gram rows are padded to a whole number of blocks
# (``c`` with the lowest float, which is never the maximum, the Gram rows with
# zeros, which leave it so). A block length taken from min(...) inside the
# loop, even for the last block alone, or this code in the body of the
# prange loop, and LLVM vectorises it only in part (3-4x slower per atom).
@serial_kernel(cache=True, boundscheck=False, fastmath=_FASTMATH)
def _pursue(c, block_max, code, gram, half_alpha, stop, max_steps):
    """Greedy steps on the padded correlations ``c`` (overwritten); codes into
    ``code`` (zero on entry). Returns the number of steps and of non-zeros."""
    n_blocks = block_max.shape[0]
    for b in range(n_blocks):
        block_max[b] = _block_max(c, b * MAX_BLOCK, (b + 1) * MAX_BLOCK)
    step = n_nonzero = 0
    while step < max_steps:
        block, best_value = 0, block_max[0]
        for b in range(1, n_blocks):
            if block_max[b] > best_value:
                block, best_value = b, block_max[b]
        coef = best_value - half_alpha
        if not coef > stop:
            break
        best, high = block * MAX_BLOCK, min(code.shape[0], (block + 1) * MAX_BLOCK)
        while best < high and c[best] != best_value:
            best += 1
        if best == high:  # unreachable for finite values: stop, never overrun
            break
        # coef > stop >= 0: a code once non-zero stays so (codes only grow).
        n_nonzero += code[best] == 0
        code[best] += coef
        g = gram[best]
        for b in range(n_blocks):
            block_max[b] = _update_block(c, g, coef, b * MAX_BLOCK, (b + 1) * MAX_BLOCK)
        step += 1
    return step, n_nonzero


# Rows a thread codes with one pair of scratch arrays.
_KERNEL_CHUNK = 64


@parallel_kernel(cache=True, boundscheck=False)
def _greedy_gram_kernel(code, gram, half_alpha, stop, max_steps, n_steps, n_nonzero):
    """Greedy pursuit in place: ``code`` holds the correlations ``X @ D.T`` on
    entry and the codes on return (each row is copied to a scratch row, set
    to zero, then coded), so a pass needs no memory beyond its output.
    ``gram`` is :func:`kernel_gram`'s, its rows padded to whole blocks.
    ``n_steps`` and ``n_nonzero`` get each row's steps and non-zero codes."""
    n_samples, n_atoms = code.shape
    width = gram.shape[1]
    lowest = np.finfo(code.dtype).min
    for chunk in prange((n_samples + _KERNEL_CHUNK - 1) // _KERNEL_CHUNK):
        c = np.empty(width, code.dtype)
        c[n_atoms:] = lowest
        block_max = np.empty(width // MAX_BLOCK, code.dtype)
        for j in range(
            chunk * _KERNEL_CHUNK, min(n_samples, (chunk + 1) * _KERNEL_CHUNK)
        ):
            row = code[j]
            for i in range(n_atoms):
                c[i] = row[i]
                row[i] = 0
            n_steps[j], n_nonzero[j] = _pursue(
                c, block_max, row, gram, half_alpha, stop, max_steps
            )


def kernel_width(n_atoms):
    """Row length of the kernel's Gram matrix: ``n_atoms`` up to whole blocks."""
    return -(-n_atoms // MAX_BLOCK) * MAX_BLOCK


def kernel_gram(components, gram=None):
    """The Gram matrix in the kernel's form: ``components @ components.T``
    with each row padded by zeros to :func:`kernel_width` (the same array
    when no padding is needed), from ``gram`` when given (either form).

    Formed through torch's BLAS, MKL here, 2.5x faster than numpy's OpenBLAS
    (numpy's in a forked child, where torch's thread pool hangs), as the
    product of the atoms with the atoms padded by zero rows.
    """
    n_atoms = components.shape[0]
    width = kernel_width(n_atoms)
    if gram is not None:
        if gram.shape[1] == width:
            return gram
        padded = np.zeros((n_atoms, width), dtype=gram.dtype)
        padded[:, :n_atoms] = gram
        return padded
    padded_atoms = components
    if width > n_atoms:
        padded_atoms = np.zeros((width, components.shape[1]), dtype=components.dtype)
        padded_atoms[:n_atoms] = components
    if in_forked_child():
        return components @ padded_atoms.T
    import torch

    return (torch.from_numpy(components) @ torch.from_numpy(padded_atoms).T).numpy()


def _code_in_place(X, components, gram, half_alpha, stop, max_steps, out):
    """The CPU kernel's pass: ``out`` gets the correlations of all rows in one
    product, then their codes in place (one switch between the BLAS's threads
    and the kernel's per pass, none per block). ``gram`` is
    :func:`kernel_gram`'s. Returns each row's steps and non-zero codes."""
    n_steps = np.zeros(X.shape[0], dtype=np.int64)
    n_nonzero = np.zeros(X.shape[0], dtype=np.int64)
    correlations_into(X, components, out)
    _greedy_gram_kernel(
        out,
        gram,
        X.dtype.type(half_alpha),
        X.dtype.type(stop),
        max_steps,
        n_steps,
        n_nonzero,
    )
    return n_steps, n_nonzero


@parallel_kernel(cache=True, boundscheck=False)
def _rows_to_csr(dense, indptr, indices, data):
    """The non-zeros of each row of ``dense`` into CSR arrays (``indptr``
    given), in column order."""
    for j in prange(dense.shape[0]):
        row = dense[j]
        at = indptr[j]
        for i in range(row.shape[0]):
            if row[i] != 0:
                indices[at] = i
                data[at] = row[i]
                at += 1


def greedy_csr(X, components, alpha, *, gram, max_steps, out):
    """Greedy codes of ``X`` as a CSR matrix, by the CPU kernel, for a fit.

    No checks: ``X`` and ``components`` are C-contiguous, of one float dtype,
    finite, and ``gram`` is :func:`kernel_gram`'s. ``out``, an
    ``(n_samples, n_components)`` array of that dtype that the caller reuses
    across blocks (no allocation, no page faults per block), holds the dense
    codes on return. The non-zeros are counted by the pursuit itself, so the
    CSR arrays are filled in one pass over ``out``, with sorted indices.
    Returns ``(code, n_steps)``.
    """
    dtype = X.dtype
    n_samples, n_atoms = out.shape
    half_alpha = alpha / 2
    stop = DEFAULT_RTOL[dtype] * half_alpha
    n_steps, n_nonzero = _code_in_place(
        X, components, gram, half_alpha, stop, max_steps, out
    )
    indptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(n_nonzero, out=indptr[1:])
    nnz = int(indptr[-1])
    index_dtype = np.int32 if max(nnz, n_atoms) < np.iinfo(np.int32).max else np.int64
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=dtype)
    _rows_to_csr(out, indptr, indices, data)
    code = sp.csr_matrix(
        (data, indices.astype(index_dtype), indptr.astype(index_dtype)),
        shape=(n_samples, n_atoms),
    )
    code.has_sorted_indices = True
    return code, n_steps


def correlations_into(X, components, out):
    """``out[:] = X @ components.T``, through torch's BLAS (numpy's in a forked
    child): OpenBLAS threads also spin for a while after each product, on the
    cores the compiled kernel needs next."""
    if in_forked_child():
        np.matmul(X, components.T, out=out)
        return out
    import torch

    torch.matmul(
        torch.from_numpy(X), torch.from_numpy(components).T, out=torch.from_numpy(out)
    )
    return out


def _torch_greedy_block(X, components, gram, half_alpha, stop, max_steps):
    """Greedy pursuit for one block, all unfinished samples one step at a time."""
    import torch

    n_samples = X.shape[0]
    code = torch.zeros((n_samples, components.shape[0]), dtype=X.dtype, device=X.device)
    n_steps = torch.zeros(n_samples, dtype=torch.int64, device=X.device)
    corr = X @ components.T
    rows = torch.arange(n_samples, device=X.device)
    for _ in range(max_steps):
        values, best = corr.max(dim=1)
        coef = values - half_alpha
        going = coef > stop
        if not bool(going.all()):
            corr, rows, best, coef = corr[going], rows[going], best[going], coef[going]
        if rows.numel() == 0:
            break
        code[rows, best] += coef
        n_steps[rows] += 1
        if gram is not None:
            atom_rows = gram[best]
        else:
            # Gram rows on demand, once per distinct atom of this step: samples
            # of a block often pick the same atoms (always at the first steps
            # of data with dominant directions).
            atoms, inverse = torch.unique(best, return_inverse=True)
            atom_rows = (components[atoms] @ components.T)[inverse]
        corr.addcmul_(coef[:, None], atom_rows, value=-1)
        del atom_rows
    return code, n_steps


def _check_alpha(alpha):
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool):
        raise TypeError(f"alpha must be a positive number, got {alpha!r}.")
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(
            f"alpha must be a positive finite number, got {alpha!r}; the greedy "
            "step gives each atom <residual, atom> - alpha / 2 and needs alpha > 0."
        )
    return float(alpha)


def _encode_numpy(X, components, gram, half_alpha, stop, max_steps, batch_size, out):
    import torch

    if gram is not None or gram_fits(components.shape[0], components.itemsize):
        gram = kernel_gram(components, gram)
        return _code_in_place(X, components, gram, half_alpha, stop, max_steps, out)[0]
    n_steps = np.zeros(X.shape[0], dtype=np.int64)
    forked = in_forked_child()
    components_torch = torch.from_numpy(components)
    # Too many atoms for a Gram matrix: the block-vectorised engine on the CPU.
    if forked and torch.get_num_threads() > 1:
        # The parent's OpenMP/MKL pool hangs a forked child: one thread here.
        torch.set_num_threads(1)
    for start in range(0, X.shape[0], batch_size):
        stop_row = min(start + batch_size, X.shape[0])
        code, steps = _torch_greedy_block(
            torch.from_numpy(X[start:stop_row]),
            components_torch,
            None,
            half_alpha,
            stop,
            max_steps,
        )
        out[start:stop_row] = code.numpy()
        n_steps[start:stop_row] = steps.numpy()
    return n_steps


def _encode_torch(
    X, components, gram, half_alpha, stop, max_steps, batch_size, out=None
):
    """The torch engine on ``components``' device, block by block.

    ``X`` is a tensor (coded where it is; the codes stay there) or, with
    ``out``, a numpy array whose blocks are moved to the device one at a time
    and whose codes are written back into ``out``: device memory then holds
    one block, however many samples there are. Returns ``(code, n_steps)``.
    """
    import torch

    if gram is None and gram_fits(components.shape[0], components.element_size()):
        gram = components @ components.T
    codes, steps = [], []
    for start in range(0, X.shape[0], batch_size):
        block = X[start : start + batch_size]
        if out is None:
            code, n_steps = _torch_greedy_block(
                block, components, gram, half_alpha, stop, max_steps
            )
            codes.append(code)
            steps.append(n_steps)
        else:
            code, n_steps = _torch_greedy_block(
                torch.as_tensor(block, device=components.device),
                components,
                gram,
                half_alpha,
                stop,
                max_steps,
            )
            out[start : start + block.shape[0]] = code.cpu().numpy()
            steps.append(n_steps.cpu())
    if out is None:
        return torch.cat(codes), torch.cat(steps)
    return out, torch.cat(steps).numpy()


def _is_torch_tensor(X):
    return type(X).__module__.startswith("torch") and hasattr(X, "detach")


@validate_params(
    {
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "rtol": [Interval(Real, 0, 1, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "return_n_steps": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def greedy_l1_encode(
    X,
    components,
    alpha,
    *,
    max_steps=None,
    rtol=None,
    batch_size=4096,
    device=None,
    gram=None,
    return_n_steps=False,
    dtype=None,
):
    """Sparse non-negative codes by the greedy L1 pursuit of Deng et al. (2023).

    For each sample the pursuit repeatedly takes the atom with the largest dot
    product with the residual, gives it the coefficient ``dot - alpha / 2`` and
    subtracts it, stopping at the first coefficient ``<= rtol * alpha / 2``
    (Appendix C; the paper's lambda is ``alpha`` here). At termination no atom
    has a dot product with the residual above ``alpha / 2`` (up to ``rtol``),
    unless the step cap was reached. This is the counterpart of
    :func:`sklearn.decomposition.sparse_encode` for the paper's coder.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
        Data to encode. A torch tensor gives a torch tensor back, on its device.
        Half precision (float16, bfloat16) is upcast to float32: the pursuit
        subtracts nearly equal correlations and needs the mantissa.
    components : array-like of shape (n_components, n_features)
        The dictionary, one atom per row. The rule assumes unit-norm rows.
    alpha : float
        The L1 penalty (the paper's lambda), > 0.
    max_steps : int, default=None
        Cap on greedy steps per sample; ``None`` means ``max(64, 4 * n_features)``.
        A :class:`~sklearn.exceptions.ConvergenceWarning` says how many samples
        reached it while their next step would still lower their objective by
        more than 1e-4 (relative); those in a tail of vanishing steps are not
        counted.
    rtol : float, default=None
        Stop at the first coefficient ``<= rtol * alpha / 2``. ``None`` means
        1e-9 for float64 and 1e-4 for float32 data. Must be small and
        non-negative; ``rtol=0`` is the literal rule, which can cycle between
        near-duplicate atoms until ``max_steps``.
    batch_size : int, default=4096
        Samples coded at once by the torch engine (GPUs, and dictionaries too
        large for a Gram matrix): memory is ``batch_size x n_components``
        beyond the output, whatever ``n_samples`` is (fewer rows at once when
        that would pass 256 MiB). The CPU kernel codes in the output's own
        array and needs no more than two rows per thread beyond it.
    device : str or torch.device, default=None
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ... ``None`` means the
        device of ``X`` (the CPU for numpy input). Numpy input coded on a GPU
        comes back as numpy. A device this machine lacks raises ValueError.
    gram : ndarray of shape (n_components, n_components), default=None
        Precomputed ``components @ components.T``, to reuse across calls.
        ``None`` computes it when it fits in 1 GiB; larger dictionaries get
        its rows computed on demand instead.
    return_n_steps : bool, default=False
        Also return the number of greedy steps taken by each sample.
    dtype : {"float32", "float64"}, default=None
        Precision of the pursuit. ``None`` means that of ``X`` on the CPU and
        for tensors, and float32 for NumPy input coded on a GPU (fast there;
        MPS has no float64). NumPy codes come back in the dtype of ``X``.

    Returns
    -------
    code : ndarray or torch.Tensor of shape (n_samples, n_components)
        Non-negative codes, in the dtype of ``X`` (float32 or float64; float32
        for half-precision input).
    n_steps : ndarray or torch.Tensor of shape (n_samples,)
        Only when ``return_n_steps`` is True.

    See Also
    --------
    GreedyL1DictionaryLearning : Learns the dictionary this function codes with.
    sklearn.decomposition.sparse_encode : Lasso, LARS and OMP coders.

    Notes
    -----
    The CPU engine is a numba kernel, compiled at first use and cached on
    disk (beside the package or in ``~/.cache/numba``; ``NUMBA_CACHE_DIR``
    chooses another writable directory). Where none can be written it is
    compiled in memory, in every process. In a process forked after a
    parallel kernel ran, and under numba's ``workqueue`` threading layer while
    another thread codes, it runs serially.

    References
    ----------
    M. Deng, L. Tao, J. Benton. Measuring Feature Sparsity in Language Models.
    NeurIPS 2023 Workshop SoLaR, Appendix C.

    Examples
    --------
    >>> import numpy as np
    >>> from skfeatsparse.decomposition import greedy_l1_encode
    >>> components = np.eye(3)
    >>> greedy_l1_encode(np.array([[2.0, 0.5, -1.0]]), components, alpha=1.0)
    array([[1.5, 0. , 0. ]])
    """
    dtype_arg = dtype
    alpha = _check_alpha(alpha)

    as_torch = _is_torch_tensor(X)
    if as_torch:
        import torch

        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D tensor, got shape {tuple(X.shape)}.")
        if X.dtype not in (torch.float32, torch.float64):
            X = X.float()  # half precision (bfloat16/float16 activations) upcast
        if not bool(torch.isfinite(X).all()):
            raise ValueError("X contains NaN or infinity.")
        dtype = np.dtype(str(X.dtype).removeprefix("torch."))
    else:
        X = check_array(X, dtype=float_dtypes(X), order="C")
        dtype = X.dtype
    out_dtype = dtype  # numpy codes come back in the input's dtype

    if device is None:
        target = str(X.device) if as_torch else "cpu"
    elif device == "cpu":
        target = "cpu"  # the compiled kernel (no device to check)
    else:
        target = str(torch_device(device))
    if dtype_arg is not None:
        if np.dtype(dtype_arg) not in DEFAULT_RTOL:
            raise ValueError(
                f"dtype must be 'float32' or 'float64', got {dtype_arg!r}."
            )
        dtype = np.dtype(dtype_arg)
    elif target != "cpu" and not as_torch:
        dtype = np.dtype(np.float32)  # GPUs: float32 unless asked otherwise
    if target.startswith("mps") and dtype == np.float64:
        raise ValueError(
            "MPS devices have no float64; code in float32 (dtype='float32')."
        )
    if as_torch:
        X = X.to(getattr(torch, dtype.name))
    else:
        X = X.astype(dtype, copy=False)
    components = check_array(
        components.detach().cpu().numpy()
        if _is_torch_tensor(components)
        else components,
        dtype=dtype,
        order="C",
    )
    if components.shape[1] != X.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features but components has {components.shape[1]}; "
            "they must match."
        )
    if gram is not None:
        gram = check_array(gram, dtype=dtype, order="C")
        n_atoms = components.shape[0]
        # kernel_gram's padded form, of internal callers, is taken as it is.
        if gram.shape not in ((n_atoms, n_atoms), (n_atoms, kernel_width(n_atoms))):
            raise ValueError(
                f"gram has shape {gram.shape}, expected {(n_atoms, n_atoms)} "
                "(components @ components.T)."
            )
    max_steps = resolve_max_steps(max_steps, X.shape[1])
    if rtol is None:
        rtol = DEFAULT_RTOL[dtype]
    half_alpha = alpha / 2
    stop = rtol * half_alpha
    batch_size = block_rows(batch_size, components.shape[0], dtype.itemsize)

    if target == "cpu":
        X_np = X.detach().cpu().numpy() if as_torch else X
        # Every row is written by the pass (correlations, then codes).
        code = np.empty((X_np.shape[0], components.shape[0]), dtype=dtype)
        n_steps = _encode_numpy(
            np.ascontiguousarray(X_np),
            components,
            gram,
            half_alpha,
            stop,
            max_steps,
            batch_size,
            code,
        )
        capped = count_capped(X_np, code, components, alpha, n_steps, max_steps)
        if as_torch:
            code, n_steps = torch.from_numpy(code), torch.from_numpy(n_steps)
    else:
        import torch

        # A tensor is coded on the device and its codes stay there; numpy
        # input goes to the device block by block and comes back as numpy.
        out = None if as_torch else np.zeros((X.shape[0], components.shape[0]), dtype)
        code, n_steps = _encode_torch(
            X.to(target) if as_torch else X,
            torch.as_tensor(components, device=target),
            None
            if gram is None
            else torch.as_tensor(gram[:, : components.shape[0]], device=target),
            half_alpha,
            stop,
            max_steps,
            batch_size,
            out=out,
        )
        if as_torch:
            capped = count_capped(
                X.to(target),
                code,
                torch.as_tensor(components, device=target),
                alpha,
                n_steps,
                max_steps,
            )
        else:
            capped = count_capped(X, code, components, alpha, n_steps, max_steps)
    if not as_torch and code.dtype != out_dtype:
        code = code.astype(out_dtype)
    warn_capped(capped, X.shape[0], max_steps, stacklevel=3)  # past validate_params
    return (code, n_steps) if return_n_steps else code
