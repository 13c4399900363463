"""The paper's Appendix E: Figure 1 again with one setting changed (Figs. 5-8).

Each ablation changes one setting of :func:`synthetic_study` from the paper's
Section 3.1 (d = 256, noise 0.1, dictionary 8d, 4d ground-truth features)
and measures the sparse-linear data and the controls again: the metrics
should still track the truth and still separate the controls.
"""

import copy

from ._protocol import PLOT_STYLE
from ._synthetic import (
    check_synthetic_settings,
    format_table,
    plot_controls_panel,
    plot_truth_panel,
    synthetic_study,
    synthetic_verdict,
)

# name: (the synthetic_study setting it changes, the paper's values, figure).
ABLATIONS = {
    "dictionary": ("dictionary_ratio", (16,), "Fig. 5"),
    "noise": ("noise", (0.05, 0.2), "Fig. 6"),
    "width": ("n_features", (64, 512), "Fig. 7"),
    "features": ("true_features_ratio", (8,), "Fig. 8"),
}


# Settings the controls do not depend on (they have no features, no noise).
_NOT_IN_CONTROLS = ("noise", "true_features_ratio")


def _check_ablation(ablation):
    if ablation not in ABLATIONS:
        raise ValueError(
            f"unknown ablation {ablation!r}; choose from {sorted(ABLATIONS)} "
            "(the paper's Appendix E)."
        )
    return ABLATIONS[ablation]


def ablation_values(ablation):
    """The paper's values of the setting ``ablation`` changes, e.g. (0.05, 0.2)."""
    return _check_ablation(ablation)[1]


def ablation_study(ablation, values=None, *, progress=None, **settings):
    """Figure 1 with one setting changed: the paper's Appendix E (Figs. 5-8).

    Parameters
    ----------
    ablation : {"dictionary", "noise", "width", "features"}
        The setting that changes: ``"dictionary"`` the dictionary size
        (``dictionary_ratio``, the paper: 16d), ``"noise"`` the noise level
        (``noise``: 0.05 and 0.2), ``"width"`` the embedding size
        (``n_features``: 64 and 512), ``"features"`` the number of
        ground-truth features (``true_features_ratio``: 8d).
    values : sequence, default=None
        The values to try; ``None`` means the paper's.
    progress : callable, default=None
        Called with each finished row.
    **settings
        The other arguments of :func:`synthetic_study` (the setting the
        ablation changes may not be among them).

    Returns
    -------
    rows : list of dict
        :func:`synthetic_study`'s rows, each with ``ablation`` (the name),
        ``setting`` (the parameter) and ``value``; the row's ``verdict``
        names the value. The controls have no noise and no ground-truth
        features: for the ``"noise"`` and ``"features"`` ablations they are
        measured once and listed under every value (``shared_control``).
    """
    setting, paper_values, _ = _check_ablation(ablation)
    if setting in settings:
        raise TypeError(
            f"ablation={ablation!r} sets {setting} itself; pass its values as "
            f"values=..., not {setting}={settings[setting]!r}."
        )
    values = tuple(paper_values if values is None else values)
    if not values:
        raise ValueError(f"ablation {ablation!r} needs at least one value.")
    for value in values:
        check_synthetic_settings(**{setting: value})
    if setting == "n_features":
        values = tuple(int(v) for v in values)
    controls = tuple(settings.pop("controls", _default_controls()))
    rows, shared = [], []
    for i, value in enumerate(values):
        label = f"{setting}={value:g}"

        def tagged(row, label=label, value=value):
            row.update(ablation=ablation, setting=setting, value=value)
            row["verdict"] = f"{label}, {row['verdict']}"
            rows.append(row)
            if progress:
                progress(row)

        # The controls do not depend on the noise or the ground-truth
        # features: measured once, then listed under every value.
        reuse = setting in _NOT_IN_CONTROLS and i > 0
        synthetic_study(
            progress=tagged,
            controls=() if reuse else controls,
            **{setting: value},
            **settings,
        )
        if setting in _NOT_IN_CONTROLS and i == 0:
            shared = [copy.deepcopy(r) for r in rows if r["data"] != "sparse-linear"]
        for row in shared if reuse else ():
            row = copy.deepcopy(row)
            verdict = row["verdict"].split(", ", 1)[1]
            row.update({setting: value, "verdict": verdict, "shared_control": True})
            tagged(row)
    return rows


def _default_controls():
    import inspect

    return inspect.signature(synthetic_study).parameters["controls"].default


def _by_value(rows):
    groups = {}
    for row in rows:
        groups.setdefault(row["value"], []).append(row)
    return groups


def ablation_verdict(rows):
    """:func:`synthetic_verdict` for each value of the ablation, one line each."""
    return "\n".join(
        f"{group[0]['setting']}={value:g}: {synthetic_verdict(group)}"
        for value, group in _by_value(rows).items()
    )


def format_ablation_table(rows):
    """One Markdown table per value, each :func:`format_table`'s, titled."""
    return "\n\n".join(
        f"{group[0]['setting']} = {value:g}\n\n{format_table(group)}"
        for value, group in _by_value(rows).items()
    )


def plot_ablation(rows, path=None):
    """Figures 5-8: per value, (a) metrics against the truth, (b) the controls."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _by_value(rows)
    name = rows[0]["ablation"]
    with plt.rc_context(PLOT_STYLE):
        fig, axes = plt.subplots(
            len(groups), 2, figsize=(13, 5 * len(groups)), squeeze=False
        )
        for (value, group), (left, right) in zip(groups.items(), axes):
            label = f"{group[0]['setting']} = {value:g}"
            sparse = [r for r in group if r["data"] == "sparse-linear"]
            if sparse:
                plot_truth_panel(left, sparse)
            left.set_title(f"{label}: (a) metrics against the truth")
            compare = [r for r in sparse if r["avg_active"] in (5, 10, 20)]
            compare += [r for r in group if r["data"] != "sparse-linear"]
            if compare:
                plot_controls_panel(right, compare)
            right.set_title(f"{label}: (b) against the controls")
        fig.suptitle(f"Ablation: {name} ({ABLATIONS[name][2]}, Appendix E)")
        fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
