"""How long a run will take: a coding pass timed on its device, scaled to the run.

A fit's cost is nearly all in its coding passes (the product ``X @ D.T`` and
the greedy steps, both proportional to rows x atoms); its dictionary steps and
the models' forward passes are small beside them and are not counted. So a
pass of ``CALIBRATION_ROWS`` rows is timed at each dictionary shape the run
uses (Figure 1's sparse-linear data with a = 10 and their true dictionary at
the paper's penalty, 10% of the mean maximum coefficient), and the time per
row x atom scaled by the rows x atoms x passes of every fit.
"""

import time
import warnings

import numpy as np

# Full passes over the training rows per fit: the main job's fits ran 15-60
# passes (25 typical), the warm-up ones on half of the rows.
PASSES_PER_FIT = 20
CALIBRATION_ROWS = 1024


def row_atom_seconds(device, n_features, n_components, rows=CALIBRATION_ROWS):
    """Seconds per row x atom of a coding pass on ``device`` at this shape."""
    from ..datasets import make_sparse_linear
    from ..decomposition import greedy_l1_encode

    avg_active = min(10, max(1, n_features // 4))
    X, components, code = make_sparse_linear(
        rows, n_features, n_components=n_components, avg_active=avg_active,
        return_components=True, random_state=0,
    )  # fmt: skip
    X, components = X.astype(np.float32), components.astype(np.float32)
    alpha = 0.1 * float(code.max(axis=1).mean())
    gram = components @ components.T  # once per pass in a fit: not per row
    if device != "cpu":  # the rows on the device, their codes stay there
        import torch

        from ..utils import torch_device

        X = torch.as_tensor(X, device=torch_device(device))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # capped steps do not matter here

        def code_pass(n):
            result = greedy_l1_encode(
                X[:n], components, alpha, gram=gram, device=device
            )
            float(result.sum())  # waits for a GPU's queued work
            return result

        code_pass(16)  # compiles the kernel, warms the device
        start = time.perf_counter()
        code_pass(rows)
        elapsed = time.perf_counter() - start
    return elapsed / (rows * n_components)


def format_duration(seconds):
    """``"40 s"``, ``"12 min"``, ``"3.5 h"``, ``"2.1 days"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def estimate(fits, device, *, calibrate=None):
    """Estimated seconds of each fit and of all.

    ``fits`` holds ``(study, label, n_fits, n_train, n_measured, n_features,
    n_components)``: ``n_fits`` fits of ``n_train`` rows each, followed by
    coding ``n_measured`` rows to measure them. Returns a list of
    ``(study, label, n_fits, n_train, n_features, n_components, seconds)``
    and the total. ``calibrate(device, n_features, n_components)`` gives the
    seconds per row x atom (default: :func:`row_atom_seconds`).
    """
    calibrate = calibrate or row_atom_seconds
    units, lines = {}, []
    for study, label, n_fits, n_train, n_measured, n_features, n_components in fits:
        shape = (n_features, n_components)
        if shape not in units:
            units[shape] = calibrate(device, *shape)
        work = n_fits * (PASSES_PER_FIT * n_train + n_measured) * n_components
        lines.append(
            (study, label, n_fits, n_train, n_features, n_components,
             work * units[shape])
        )  # fmt: skip
    return lines, sum(line[-1] for line in lines)


def format_estimate(lines, total, device):
    """The estimate as printed before a run."""
    text = [
        f"Estimated time on {device}: a {CALIBRATION_ROWS}-row coding pass timed "
        f"there, scaled by rows x atoms x passes ({PASSES_PER_FIT} per fit, "
        "plus measuring; forward passes of the models not counted)"
    ]
    for study, label, n_fits, n_train, n_features, n_components, seconds in lines:
        what = f"{n_fits} fits of {n_train} x {n_features}, {n_components} atoms"
        text.append(
            f"  {study:<10} {label:<28} {what:<40} ~ {format_duration(seconds)}"
        )
    text.append(f"  total ~ {format_duration(total)}")
    return "\n".join(text)
