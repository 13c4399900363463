"""Plots of the per-atom statistics of a report."""

import numpy as np


def plot_firing_frequency(report_or_frequency, *, ax=None, path=None, bins=40):
    """Histogram of the atoms' firing frequencies on a log scale.

    The usual diagnostic of a sparse dictionary: a healthy one has a single
    mode well below 1 (each atom used by a small share of the samples); dense
    atoms sit at the right end, and dead atoms (never used, frequency 0, which
    a log axis cannot show) are counted in the title.

    Parameters
    ----------
    report_or_frequency : dict or array-like of shape (n_components,)
        A report of :func:`sparsity_report` or :func:`sparsity_metrics` (its
        ``firing_frequency`` is used), or the frequencies themselves, in [0, 1].
    ax : matplotlib Axes, default=None
        Where to draw; ``None`` makes a new figure.
    path : str or path-like, default=None
        Save the figure there (with matplotlib's Agg backend when a new
        figure is made, so no display is needed) and close it.
    bins : int, default=40
        Number of logarithmic bins between the smallest non-zero frequency and 1.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np
    >>> from skfeatsparse.metrics import plot_firing_frequency
    >>> ax = plot_firing_frequency(np.array([0.0, 1e-3, 1e-2, 0.2]))
    >>> ax.get_title()
    '4 atoms: 1 dead, 1 dense (> 0.1)'
    """
    if isinstance(report_or_frequency, dict):
        if "firing_frequency" not in report_or_frequency:
            raise ValueError(
                "The report has no 'firing_frequency': give a report of "
                "sparsity_report or sparsity_metrics, or the frequencies."
            )
        frequency = report_or_frequency["firing_frequency"]
    else:
        frequency = report_or_frequency
    frequency = np.asarray(frequency, dtype=np.float64).ravel()
    if frequency.size == 0 or not np.isfinite(frequency).all():
        raise ValueError(
            "firing frequencies must be a non-empty array of finite values."
        )
    if (frequency < 0).any() or (frequency > 1).any():
        raise ValueError(
            "firing frequencies are shares of samples, in [0, 1]; got values from "
            f"{frequency.min():.3g} to {frequency.max():.3g}."
        )
    if not (isinstance(bins, int | np.integer) and bins >= 1):
        raise ValueError(f"bins must be a positive int, got {bins!r}.")
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    alive = frequency[frequency > 0]
    if alive.size:
        low = alive.min()
        edges = np.logspace(np.log10(low), 0, bins + 1) if low < 1 else [0.5, 1.0]
        ax.hist(alive, bins=edges)
    ax.set_xscale("log")
    threshold = (
        report_or_frequency.get("dense_threshold", 0.1)
        if isinstance(report_or_frequency, dict)
        else 0.1
    )
    ax.axvline(threshold, color="k", linestyle=":", linewidth=1)
    n_dead = int(frequency.size - alive.size)
    n_dense = int(np.count_nonzero(frequency > threshold))
    title = f"{frequency.size} atoms: {n_dead} dead, {n_dense} dense (> {threshold:g})"
    ax.set(
        xlabel="firing frequency (share of samples using the atom)",
        ylabel="atoms",
        title=title,
    )
    if path is not None:
        figure = ax.figure
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
    return ax
