"""Numba's parallel kernels, made safe for read-only installs, forks and threads.

:func:`parallel_kernel` compiles a function twice, lazily: with ``parallel=True``
and serially (``prange`` is then ``range``; same result). Which one runs:

* **Caching** is an optimisation. Numba's ``cache=True`` raises "no locator
  available" at import when neither the package directory, ``NUMBA_CACHE_DIR``
  nor the user cache directory (``~/.cache``) can be written; the kernels are
  then compiled in memory at first use instead (once per process). Set
  ``NUMBA_CACHE_DIR`` to a writable directory to keep the compiled code.
* **Forks.** A forked child cannot use thread pools its parent started (GNU
  OpenMP, numba's ``omp`` layer and torch's MKL, aborts or hangs, and a
  ``multiprocessing.Pool`` then waits for ever), and whether they were started
  cannot be asked of torch: a forked child runs the serial kernels
  (:func:`in_forked_child` tells the callers, which keep torch to one thread
  there). Several worker processes are the parallelism then.
* **Threads.** Numba's ``workqueue`` threading layer aborts the process when
  two threads launch parallel kernels at once (dask's threaded scheduler,
  joblib threads). Under it (or while no layer is chosen yet) one thread at
  a time runs the parallel kernel; the others run the serial one meanwhile.
  The ``omp`` and ``tbb`` layers are thread-safe and run parallel throughout.
"""

import os
import threading
import types

import numba
from llvmlite import ir as llvmlite_ir
from numba.core import types as numba_types
from numba.extending import intrinsic

# Numba's threading layers that may be entered from several threads at once.
_THREADSAFE_LAYERS = frozenset({"tbb", "omp"})

_state = {"cache": None, "forked": False, "threadsafe": False}
_launch_lock = threading.Lock()


def _layer_in_use():
    """The threading layer numba has loaded in this process, or None."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _after_fork_in_child():
    _state["forked"] = True


def in_forked_child():
    """Whether this process was forked from one that had imported this module.

    Thread pools of the parent (OpenMP, MKL) are unusable there; kernels run
    serially.
    """
    return _state["forked"]


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def caching_works():
    """Whether numba can cache compiled kernels here (decided at the first kernel)."""
    return bool(_state["cache"])


def _njit(function, options):
    """``numba.njit(**options)(function)``; without ``cache`` where it cannot cache."""
    if options.get("cache") and _state["cache"] is not False:
        try:
            dispatcher = numba.njit(**options)(function)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            _state["cache"] = False
        else:
            _state["cache"] = True
            return dispatcher
    return numba.njit(**{**options, "cache": False})(function)


def _renamed(function, suffix):
    """A copy of ``function`` under another qualified name: numba's cache files
    are named by it and do not tell parallel from serial compilations apart."""
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__qualname__ = function.__qualname__ + suffix
    copy.__module__ = function.__module__
    copy.__doc__ = function.__doc__
    return copy


class ParallelKernel:
    """A numba function compiled in parallel and serially; call it like either."""

    def __init__(self, function, options):
        self.py_func = function
        self.__doc__ = function.__doc__
        self.__name__ = function.__name__
        self.__qualname__ = function.__qualname__
        self.__module__ = function.__module__
        self.parallel = _njit(function, {**options, "parallel": True})
        self.serial = _njit(_renamed(function, "_serial"), options)

    def __call__(self, *args):
        if _state["forked"]:
            return self.serial(*args)
        if _state["threadsafe"]:
            return self.parallel(*args)
        if not _launch_lock.acquire(blocking=False):
            return self.serial(*args)  # another thread is in a parallel kernel
        try:
            return self.parallel(*args)
        finally:
            _state["threadsafe"] = _layer_in_use() in _THREADSAFE_LAYERS
            _launch_lock.release()

    def __repr__(self):
        return f"<ParallelKernel {self.__qualname__}>"


def parallel_kernel(**options):
    """Decorator: ``numba.njit(parallel=True, **options)``, safe as this module says.

    Parameters
    ----------
    **options
        Options of :func:`numba.njit` (``cache``, ``fastmath``, ...);
        ``parallel`` is set by the kernel.

    Returns
    -------
    decorator : callable
        Turns a function into a :class:`ParallelKernel`.

    Examples
    --------
    >>> import numpy as np
    >>> from numba import prange
    >>> @parallel_kernel()
    ... def total(x):
    ...     s = 0.0
    ...     for i in prange(x.size):
    ...         s += x[i]
    ...     return s
    >>> total(np.ones(4))
    4.0
    """
    return lambda function: ParallelKernel(function, options)


def serial_kernel(**options):
    """Decorator: ``numba.njit(**options)``, compiled in memory where ``cache``
    cannot write (see this module), for helpers the parallel kernels call.

    Examples
    --------
    >>> import numpy as np
    >>> @serial_kernel(cache=True)
    ... def twice(x):
    ...     return 2 * x
    >>> twice(np.ones(2))
    array([2., 2.])
    """
    return lambda function: _njit(function, options)


@intrinsic
def vector_max(typingctx, a, b):
    """``max(a, b)`` of two floats of one type, as LLVM's ``maxnum``.

    Numba's ``max`` lowers to compare-and-branch code that LLVM will not turn
    into a vectorised reduction; ``maxnum`` is the form its loop vectoriser
    knows, so ``m = vector_max(m, x[i])`` in a loop compiled with the
    ``"nnan"`` fast-math flag runs on SIMD registers. The value is exactly the
    larger input (NaN aside, which the flag rules out), so it can be searched
    for with ``==`` afterwards.
    """
    if not isinstance(a, numba_types.Float) or a != b:
        return None

    def codegen(context, builder, signature, args):
        ll_type = args[0].type
        maxnum = builder.module.declare_intrinsic(
            "llvm.maxnum", [ll_type], llvmlite_ir.FunctionType(ll_type, [ll_type] * 2)
        )
        return builder.call(maxnum, args)

    return a(a, b), codegen
