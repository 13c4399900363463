"""Pieces the benchmark scripts share: peak-memory probes and sparse test data."""

import resource
import sys

import numpy as np

MIB = 1024.0  # /proc and ru_maxrss count KiB on Linux


def ru_maxrss_mib():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (MIB * MIB) if sys.platform == "darwin" else rss / MIB  # macOS: bytes


def proc_status_mib(field):
    """``VmRSS`` or ``VmHWM`` of this process in MiB (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / MIB
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Lower the peak-RSS mark to the current RSS (Linux >= 4.0); True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class PeakRSS:
    """Peak resident memory of a block beyond the RSS at its start, in MiB.

    Counts what tracemalloc misses (torch's and BLAS's buffers). ``extra`` is
    None where ``/proc/self/clear_refs`` is unavailable (not Linux).
    """

    def __enter__(self):
        self._ok = reset_peak_rss()
        self.start = proc_status_mib("VmRSS")
        return self

    def __exit__(self, *exc):
        peak = proc_status_mib("VmHWM")
        self.extra = peak - self.start if self._ok and peak is not None else None
        return False


def sparse_rows(components, n_samples, avg_active, rng, *, noise=0.1, chunk=50_000):
    """``n_samples`` float32 rows: sparse non-negative mixes of ``components``.

    As :func:`skfeatsparse.datasets.make_sparse_linear` draws them (each atom
    active with probability ``avg_active / n_atoms``, uniform coefficients,
    Gaussian noise of total variance ``noise**2 * avg_active``), but from a
    given dictionary, chunk by chunk and without a dense code, so that only
    the output is held whatever the number of atoms.
    """
    import scipy.sparse as sp

    n_true, d = components.shape
    X = np.empty((n_samples, d), dtype=np.float32)
    for start in range(0, n_samples, chunk):
        rows = min(chunk, n_samples - start)
        # Active entries as uniform draws over the rows x atoms grid (the rare
        # repeats add up, as a sparse matrix sums duplicates).
        k = rng.binomial(rows * n_true, avg_active / n_true)
        flat = rng.integers(0, rows * n_true, size=k)
        code = sp.csr_matrix(
            (rng.uniform(size=k).astype(np.float32), (flat // n_true, flat % n_true)),
            shape=(rows, n_true),
        )
        block = np.asarray(code @ components, dtype=np.float32)
        block += rng.standard_normal((rows, d), dtype=np.float32) * np.float32(
            noise * np.sqrt(avg_active / d)
        )
        X[start : start + rows] = block
    return X


def report_checks(checks):
    """Print ``(description, passed)`` targets as a checklist; return JSON rows."""
    print()
    for description, passed in checks:
        print(f"[{'x' if passed else ' '}] {description}")
    return [{"target": d, "passed": bool(p)} for d, p in checks]


def write_json(path, results):
    """Write ``results`` to ``path`` (parents created) as indented JSON; return it."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    return path
