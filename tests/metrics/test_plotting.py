"""plot_firing_frequency: a log-frequency histogram of the atoms' usage."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from skfeatsparse.metrics import plot_firing_frequency, sparsity_metrics  # noqa: E402


def test_histogram_counts_every_live_atom_and_names_dead_and_dense_ones():
    frequency = np.array([0.0, 0.0, 1e-3, 2e-3, 0.05, 0.5])
    ax = plot_firing_frequency(frequency)
    heights = sum(patch.get_height() for patch in ax.patches)
    assert heights == 4  # the dead atoms cannot sit on a log axis
    assert ax.get_xscale() == "log"
    assert ax.get_title() == "6 atoms: 2 dead, 1 dense (> 0.1)"
    plt.close(ax.figure)


def test_takes_a_report_and_draws_on_the_given_axes():
    code = np.array([[1.0, 0.0, 0.0], [1.0, 2.0, 0.0]])
    report = sparsity_metrics(code, code, np.eye(3), alpha=0.5)
    fig, ax = plt.subplots()
    assert plot_firing_frequency(report, ax=ax) is ax
    assert ax.get_title().startswith("3 atoms: 1 dead")
    plt.close(fig)


def test_saves_to_a_path(tmp_path):
    path = tmp_path / "frequency.png"
    plot_firing_frequency(np.array([0.01, 0.2]), path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"alpha": 1.0}, "no 'firing_frequency'"),
        (np.array([0.5, 1.5]), r"in \[0, 1\]"),
        (np.array([]), "non-empty"),
    ],
)
def test_rejects_what_is_not_a_frequency(bad, message):
    with pytest.raises(ValueError, match=message):
        plot_firing_frequency(bad)
