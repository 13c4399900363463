"""skfeatsparse.studies: Figures 1-3 held out, with controls and verdicts."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skfeatsparse.studies import (
    embeddings_study,
    evenly_spaced_layers,
    format_atoms_table,
    format_table,
    layers_study,
    random_weights_model,
    synthetic_study,
    synthetic_verdict,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_synthetic_study_rows_and_verdict():
    rows = synthetic_study(
        (2, 6), ("gaussian",), n_samples=400, n_test=200, n_features=8,
        dictionary_ratio=2, max_iter=4, n_resamples=50, n_seeds=2,
    )  # fmt: skip
    assert [r["data"] for r in rows] == ["sparse-linear", "sparse-linear", "gaussian"]
    for row in rows:
        assert row["n_train"] == 400 and row["n_test"] == 200
        assert len(row["normalized_loss_seeds"]) == 2
        assert row["normalized_loss_seeds"][0] == row["normalized_loss"]
        (similarity,) = row["dictionary_similarity_seeds"]
        assert 0 < similarity < 1  # another seed, another (similar) dictionary
        assert (
            f"atoms matched across seeds at cosine {similarity:.2f}" in row["verdict"]
        )
        assert row["verdict"].endswith(".")
    for row in rows[:2]:  # sparse-linear: recovery of the true features
        # 16 atoms for 32 true features: mcc is over the 16 matched ones
        assert row["n_matched"] == 16
        assert 0 < row["mcc"] <= 1 and 0 < row["mean_max_cosine"] <= 1
        assert 0 <= row["support_f1"] <= 1
        assert {"support_precision", "support_recall"} <= set(row)
    assert "mcc" not in rows[2]
    table = format_table(rows).splitlines()
    assert "| MCC | support F1 |" in table[0]
    assert f"| {rows[0]['mcc']:.3f} | {rows[0]['support_f1']:.3f} |" in table[2]
    assert "| - | - |" in table[4]
    assert "true S_1" in rows[0]["verdict"]
    assert "a control" in rows[2]["verdict"]
    assert "increases with a" in synthetic_verdict(rows) or "NOT increase" in (
        synthetic_verdict(rows)
    )


def _r(data, value, half=0.1, **extra):
    return {"data": data, "normalized_loss": value,
            "normalized_loss_ci": [value - half, value + half], **extra}  # fmt: skip


def test_synthetic_verdict_names_what_is_and_is_not_separated():
    rows = [
        _r("sparse-linear", 2.0, avg_active=2.0),
        _r("sparse-linear", 4.0, avg_active=5.0),
        _r("sparse-linear", 7.0, avg_active=10.0),
        _r("gaussian", 16.0),
        _r("heavy_tailed", 5.0, half=0.5),
    ]
    verdict = synthetic_verdict(rows)
    assert "gaussian (16.00) above a <= 10" in verdict
    assert "heavy_tailed (5.00) above a <= 5" in verdict
    assert "Not separated from every a <= 10: heavy_tailed (5.00)" in verdict
    assert "It increases with a: 2.00 (a=2), 4.00 (a=5), 7.00 (a=10)." in verdict
    rows[2]["normalized_loss"] = 3.0
    assert "does NOT increase" in synthetic_verdict(rows)


def test_random_weights_model_is_the_same_architecture_freshly_drawn(tiny_bert_dir):
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_bert_dir)
    before = torch.random.get_rng_state()
    a = random_weights_model(model, 0)
    assert torch.equal(torch.random.get_rng_state(), before)
    # (the tiny test model is itself a random draw with seed 0: compare seed 3)
    b, c = random_weights_model(model, 0), random_weights_model(model, 3)
    assert type(a) is type(model) and not a.training
    wa, wb, wc, w = (m.get_input_embeddings().weight for m in (a, b, c, model))
    assert wa.shape == w.shape
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert not torch.allclose(wc, w)


def test_embeddings_study_splits_the_vocabulary(tiny_bert_dir):
    (row,) = embeddings_study(
        [tiny_bert_dir], dictionary_ratio=1, max_iter=3, n_resamples=50,
        random_state=3,  # the tiny model itself is a seed-0 random draw
    )  # fmt: skip
    assert row["n_test"] == round(0.2 * row["n_samples"])
    assert row["n_train"] + row["n_test"] == row["n_samples"]
    for name in ("gaussian", "random_weights"):
        control = row["controls"][name]
        assert control["n_train"] == row["n_train"]
        assert control["normalized_loss"] != row["normalized_loss"]
    with pytest.raises(ValueError, match="unknown controls"):
        embeddings_study([tiny_bert_dir], controls=("shuffled",))


def test_layers_study_one_penalty_rule_and_controls(tiny_bert_dir):
    texts = [f"the cat number {i} sat on the mat and looked at the moon" for i in
             range(30)]  # fmt: skip
    rows, info = layers_study(
        tiny_bert_dir, texts, layers=[0, -1], max_tokens=300, max_test_tokens=150,
        dictionary_ratio=1, max_iter=3, n_resamples=50,
    )  # fmt: skip
    assert info["n_train_texts"] + info["n_test_texts"] == 30
    assert info["n_test_texts"] == 10
    assert [r["layer"] for r in rows] == [0, 2]
    ratio = info["transform_alpha_ratio"]
    assert ratio in {2.0**-k for k in range(5)}
    reached = info["explained_variance_at_ratio"]
    assert ratio == 2.0**-4 or min(reached.values()) >= 0.98
    for row in rows:
        assert row["transform_alpha"] == pytest.approx(row["alpha"] * ratio)
        assert row["n_test"] <= 150 and row["n_train"] <= 300
        gauss, random = row["controls"]["gaussian"], row["controls"]["random_weights"]
        assert gauss["n_test"] == row["n_test"]
        assert np.isfinite(random["normalized_loss"])
        assert random["transform_alpha"] == pytest.approx(random["alpha"] * ratio)
    fixed, _ = layers_study(
        tiny_bert_dir, texts, layers=[0], max_tokens=300, max_test_tokens=150,
        dictionary_ratio=1, max_iter=3, n_resamples=50, transform_alpha_ratio=0.5,
        controls=(),
    )  # fmt: skip
    assert fixed[0]["transform_alpha"] == pytest.approx(fixed[0]["alpha"] * 0.5)
    assert fixed[0]["controls"] == {}


@given(n=st.integers(1, 60), k=st.integers(2, 40))
def test_evenly_spaced_layers_keep_the_ends_and_the_budget(n, k):
    layers = evenly_spaced_layers(n, k)
    assert layers == sorted(set(layers))
    assert layers[0] == 0 and layers[-1] == n - 1
    assert len(layers) == min(n, k)
    gaps = np.diff(layers)
    assert len(gaps) == 0 or gaps.max() - gaps.min() <= 1  # evenly, to rounding


def test_layers_study_max_layers_and_relative_depth(tiny_bert_dir):
    texts = [f"a bird number {i} sang in the old oak tree at dawn" for i in range(24)]
    settings = dict(max_tokens=200, max_test_tokens=100, max_iter=2, n_resamples=20,
                    controls=(), faithfulness=False)  # fmt: skip
    rows, info = layers_study(tiny_bert_dir, texts, max_layers=2, **settings)
    assert info["n_hidden_states"] == 3
    assert [r["layer"] for r in rows] == [0, 2]
    assert [r["relative_depth"] for r in rows] == [0.0, 1.0]
    for bad in (1, 2.0, True):
        with pytest.raises(ValueError, match="max_layers must be an integer >= 2"):
            layers_study(tiny_bert_dir, texts, max_layers=bad, **settings)
    with pytest.raises(ValueError, match="max_layers picks hidden states"):
        layers_study(tiny_bert_dir, texts, max_layers=2, layers=[0], **settings)


def _series_x(ax):
    """x of each model's series (its error-bar container) by legend label."""
    return {c.get_label(): list(c.lines[0].get_xdata()) for c in ax.containers}


def test_layer_figure_places_models_of_other_depths_by_relative_depth():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from skfeatsparse.studies import plot_layers

    def rows(layers, n):
        out = [_layer_row(i, 0.99) for i in layers]
        for row in out:
            row.update(n_hidden_states=n, relative_depth=row["layer"] / (n - 1))
        return out

    fig = plot_layers({"deep": rows([0, 15, 30], 31), "shallow": rows(range(7), 7)})
    xs = _series_x(fig.axes[0])
    assert xs["deep (3 of 31 hidden states, a stride of 15)"] == [0.0, 0.5, 1.0]
    assert xs["shallow"] == pytest.approx(np.arange(7) / 6)
    assert "relative depth" in fig.axes[0].get_xlabel()
    plt.close(fig)
    same = plot_layers({"a": rows([0, 3], 7), "b": rows([0, 6], 7)})
    xs = _series_x(same.axes[0])
    assert xs["a (2 of 7 hidden states, a stride of 3)"] == [0, 3]  # same depth: index
    assert "hidden state" in same.axes[0].get_xlabel()
    plt.close(same)


def test_atoms_table_names_rows_and_shows_seeds_only_where_refitted():
    base = dict(n_components=16, dead_atoms=2, dense_atoms=5, max_atom_cosine=0.91234)
    rows = [
        {"layer": 3, **base},
        {"avg_active": 10.0, **base, "normalized_loss_seeds": [5.4, 5.1, 5.3],
         "dictionary_similarity_seeds": [0.95, 0.9]},
        {"model": "minilm", **base},
        {"data": "gaussian", **base},
        {"site": "encoder.layer.0.output", **base},
    ]  # fmt: skip
    lines = format_atoms_table(rows).splitlines()
    assert lines[0].count("|") == lines[1].count("|") == 8
    assert lines[2] == "| layer 3 | 16 | 2 | 5 | 0.912 | - | - |"
    assert lines[3] == "| a=10 | 16 | 2 | 5 | 0.912 | 5.10-5.40 | 0.900 |"
    assert lines[4].startswith("| minilm |") and lines[5].startswith("| gaussian |")
    assert lines[6].startswith("| encoder.layer.0.output | 16 |")


def test_seeds_learn_the_same_sparse_features_but_not_gaussian_ones():
    # Sparse-linear data has one dictionary to find: two seeds agree on it
    # far more closely than on a Gaussian, where any basis is as good.
    sparse, gaussian = synthetic_study(
        (2,), ("gaussian",), n_samples=1500, n_test=300, n_features=8,
        dictionary_ratio=4, max_iter=15, n_resamples=50, n_seeds=2,
    )  # fmt: skip
    assert sparse["dictionary_similarity_seeds"][0] > 0.85
    assert gaussian["dictionary_similarity_seeds"][0] < 0.8


def test_seed_spread_refits_the_dictionary(tiny_bert_dir):
    texts = [f"a dog number {i} barked at the postman every morning" for i in
             range(24)]  # fmt: skip
    rows, _ = layers_study(
        tiny_bert_dir, texts, layers=[1], max_tokens=300, max_test_tokens=150,
        dictionary_ratio=1, max_iter=3, n_resamples=50, controls=(), n_seeds=2,
        transform_alpha_ratio=1.0,
    )  # fmt: skip
    seeds = rows[0]["normalized_loss_seeds"]
    assert len(seeds) == 2 and seeds[0] == rows[0]["normalized_loss"]
    assert seeds[1] != seeds[0]  # another initialisation, another dictionary
    assert "over 2 seeds" in rows[0]["verdict"]


def _layer_row(layer, ev):
    def metrics(ev):
        return {
            "normalized_loss": 3.0,
            "normalized_loss_ci": [2.9, 3.1],
            "avg_coef_norm": 2.0,
            "avg_coef_norm_ci": [1.9, 2.1],
            "explained_variance": ev,
            "explained_variance_ci": [ev - 0.001, ev + 0.001],
        }

    row = {"layer": layer, **metrics(ev)}
    row["controls"] = {"gaussian": metrics(ev - 0.01), "random_weights": metrics(ev)}
    return row


def test_layer_figure_has_the_098_line_markers_and_readable_fonts():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from skfeatsparse.studies import plot_layers

    # one layer, explained variance far from 0.98 and within 0.002 of itself
    fig = plot_layers({"m": [_layer_row(3, 0.90)]})
    ev = fig.axes[2]
    low, high = ev.get_ylim()
    assert low < 0.889 and high > 0.98  # the data and the paper's target
    lines = [line for line in ev.get_lines() if list(line.get_ydata()) == [0.98] * 2]
    assert len(lines) == 1 and "0.98" in lines[0].get_label()
    for ax in fig.axes[:3]:
        series = [line for line in ax.get_lines() if len(line.get_xdata()) == 1]
        assert len(series) >= 3  # the model and both controls
        assert all(line.get_marker() not in (None, "", "None") for line in series)
        assert ax.xaxis.label.get_fontsize() >= 12
    plt.close(fig)


def test_layers_study_reports_faithfulness_beside_the_metrics(tiny_bert_dir):
    from skfeatsparse.studies import format_layers_table

    texts = [f"the cat number {i} sat on the mat and looked at the moon" for i in
             range(24)]  # fmt: skip
    settings = dict(layers=[1], max_tokens=300, max_test_tokens=100, max_iter=3,
                    n_resamples=50, controls=(), transform_alpha_ratio=1.0)  # fmt: skip
    rows, info = layers_study(tiny_bert_dir, texts, **settings)
    f = rows[0]["faithfulness"]
    assert (f["kind"], f["layer"], f["site"]) == (
        "encoder",
        1,
        "encoder.layer.0.output.LayerNorm",
    )
    # held-out texts only, the first ones holding max_test_tokens tokens
    assert 0 < f["n_texts"] <= info["n_test_texts"] and f["n_spliced"] >= 100
    assert f["cosine_spliced"] > f["cosine_ablated"]
    assert f["recovered"] == pytest.approx(
        1 - (1 - f["cosine_spliced"]) / (1 - f["cosine_ablated"])
    )
    assert "Spliced back in, it recovers" in rows[0]["verdict"]
    table = format_layers_table(rows)
    header, _, line = table.splitlines()
    cells = [c.strip() for c in line.strip("|").split("|")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert cells[columns.index("recovered")] == f"{f['recovered']:.3f}"
    plain, _ = layers_study(tiny_bert_dir, texts, faithfulness=False, **settings)
    assert "faithfulness" not in plain[0]
    assert plain[0]["normalized_loss"] == rows[0]["normalized_loss"]
    assert "| - | - |" in format_layers_table(plain)


def test_layers_study_takes_sites_instead_of_layers(tiny_gpt2_dir):
    texts = [f"a dog number {i} barked at the postman every morning" for i in
             range(24)]  # fmt: skip
    rows, _ = layers_study(
        tiny_gpt2_dir, texts, sites="h.*.mlp", max_tokens=300, max_test_tokens=100,
        max_iter=3, n_resamples=50, controls=("random_weights",),
        transform_alpha_ratio=1.0,
    )  # fmt: skip
    assert [r["site"] for r in rows] == ["h.0.mlp", "h.1.mlp"]
    for row in rows:
        assert "layer" not in row and row["verdict"].startswith(f"site {row['site']}:")
        assert row["faithfulness"]["site"] == row["site"]
        assert row["faithfulness"]["kind"] == "causal"
        assert row["faithfulness"]["kl_spliced"] < row["faithfulness"]["kl_ablated"]
        assert np.isfinite(row["controls"]["random_weights"]["normalized_loss"])
    with pytest.raises(ValueError, match="layers or sites, not both"):
        layers_study(tiny_gpt2_dir, texts, layers=[1], sites="h.*.mlp")
    with pytest.raises(ValueError, match="Close matches: 'h.0.mlp'"):
        layers_study(tiny_gpt2_dir, texts, sites="h.*.mpl")


def test_layer_figure_has_a_faithfulness_panel():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from skfeatsparse.studies import plot_layers

    rows = [_layer_row(0, 0.99), _layer_row(1, 0.99)]
    for row, recovered in zip(rows, (0.9, 0.7)):
        row["faithfulness"] = {"kind": "causal", "recovered": recovered}
    fig = plot_layers({"m": rows})
    assert len(fig.axes) == 4
    series = [line for line in fig.axes[3].get_lines() if line.get_label() == "m"]
    assert list(series[0].get_ydata()) == [0.9, 0.7]
    assert list(series[0].get_xdata()) == [0, 1]
    plt.close(fig)
    assert len(plot_layers({"m": [_layer_row(3, 0.90)]}).axes) == 3  # none: 3 panels


def _embedding_row(model, family, width, value, gaussian, random=None):
    def metric(v):
        return {"normalized_loss": v, "normalized_loss_ci": [v - 1, v + 2]}

    controls = {"gaussian": metric(gaussian)}
    if random is not None:
        controls["random_weights"] = metric(random)
    return {"model": model, "family": family, "n_features": width,
            **metric(value), "controls": controls}  # fmt: skip


def test_family_figure_one_point_per_model_error_bars_and_gaussian_reference():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from skfeatsparse.studies import plot_embeddings

    rows = [
        _embedding_row("a", "bert", 384, 50.0, 90.0, random=120.0),
        _embedding_row("b", "llama", 576, 40.0, 110.0),
        _embedding_row("c", "bert", 768, 60.0, 150.0),
    ]
    fig = plot_embeddings(rows)
    ax = fig.axes[0]
    bars = {c.get_label(): c for c in ax.containers}
    for row in rows:
        (point,) = [
            c for label, c in bars.items() if label.startswith(row["model"] + " (")
        ]
        line = point.lines[0]
        assert list(line.get_xdata()) == [row["n_features"]]
        assert list(line.get_ydata()) == [row["normalized_loss"]]
        (segments,) = point.lines[2]  # the error bar: the interval
        low, high = sorted(segments.get_segments()[0][:, 1])
        assert (low, high) == tuple(row["normalized_loss_ci"])
    # colour by family: a and c share theirs, b has another
    color = {r["model"]: bars[f"{r['model']} ({r['family']})"].lines[0].get_color()
             for r in rows}  # fmt: skip
    assert color["a"] == color["c"] != color["b"]
    (gauss,) = [c for label, c in bars.items() if label.startswith("Gaussian")]
    assert list(gauss.lines[0].get_xdata()) == [384, 576, 768]
    assert list(gauss.lines[0].get_ydata()) == [90.0, 110.0, 150.0]
    assert len(gauss.lines[2][0].get_segments()) == 3  # an interval at each width
    assert "embedding size" in ax.get_xlabel()
    plt.close(fig)


def test_embeddings_rows_name_the_family_and_cap_the_training_tokens(tiny_bert_dir):
    (row,) = embeddings_study(
        [tiny_bert_dir], controls=("gaussian",), dictionary_ratio=1, max_iter=2,
        n_resamples=20, max_train_rows=50,
    )  # fmt: skip
    assert row["family"] == "bert"
    assert row["model"] == tiny_bert_dir.name  # a directory: its name
    # fitted on 50 training tokens, measured on every held-out one
    assert row["n_train"] == row["controls"]["gaussian"]["n_train"] == 50
    assert row["n_test"] == round(0.2 * row["n_samples"])


@pytest.fixture(scope="module")
def bert_features(tiny_bert_dir):
    from skfeatsparse.activations import TransformerActivations
    from skfeatsparse.studies import token_features

    act = TransformerActivations(tiny_bert_dir).fit()
    results, dictionary = token_features(
        act, ["dog", "the"], dictionary_ratio=8, n_features=4, n_top=5,
        n_neighbours=6, max_iter=20, random_state=0,
    )  # fmt: skip
    return act, results, dictionary


def test_token_features_code_reconstructs_the_token_embedding(bert_features):
    from skfeatsparse.activations import token_embeddings

    act, results, dictionary = bert_features
    E = token_embeddings(act.model_)
    for r in results:
        x = E[r.token_id]
        reconstruction = r.code @ dictionary.components_ + dictionary.mean_
        error = np.linalg.norm(x - reconstruction) / np.linalg.norm(
            x - dictionary.mean_
        )
        assert error == pytest.approx(r.relative_error, rel=1e-4)
        assert r.relative_error < 0.5  # 256 atoms for a 200-token vocabulary
        # the listed features are the largest coefficients of the code, in order
        assert np.all(np.diff(r.coefficients) <= 0)
        assert np.allclose(r.coefficients, np.sort(r.code)[::-1][: len(r.features)])
        assert np.allclose(r.code[r.features], r.coefficients)
        # the token's code as the whole vocabulary's coding has it
        np.testing.assert_allclose(
            r.code, dictionary.transform(E)[r.token_id], rtol=1e-5, atol=1e-7
        )
    assert results[0].token == "dog" and results[1].token == "the"


def test_token_features_top_tokens_have_the_largest_coefficients(bert_features):
    from skfeatsparse.activations import token_embeddings

    act, results, dictionary = bert_features
    codes = dictionary.transform(token_embeddings(act.model_))
    vocab = act.tokenizer_.convert_ids_to_tokens(list(range(codes.shape[0])))
    for r in results:
        for atom, tokens, coefs in zip(r.features, r.top_tokens, r.top_coefficients):
            column = codes[:, atom]
            assert tokens[0] == vocab[int(np.argmax(column))]
            assert np.allclose(coefs, np.sort(column)[::-1][: len(coefs)], rtol=1e-4)
            assert len(tokens) <= 5 and np.all(np.asarray(coefs) > 0)
        assert r.token in r.top_tokens[0] or len(r.top_tokens[0]) == 5


def test_token_features_neighbours_are_sorted_by_cosine(bert_features):
    from skfeatsparse.activations import token_embeddings

    act, results, _ = bert_features
    E = token_embeddings(act.model_)
    unit = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    for r in results:
        cosine = unit @ unit[r.token_id]
        cosine[r.token_id] = -np.inf
        expected = np.argsort(-cosine)[:6]
        ids = act.tokenizer_.convert_tokens_to_ids(r.neighbours)
        assert list(ids) == list(expected) and r.token not in r.neighbours
        assert np.all(np.diff(r.neighbour_cosines) <= 0)
        np.testing.assert_allclose(r.neighbour_cosines, cosine[expected], rtol=1e-5)


def test_token_features_table_lists_features_and_neighbours(bert_features):
    from skfeatsparse.studies import format_token_features

    _, results, _ = bert_features
    text = format_token_features(results)
    r = results[0]
    assert text.startswith(f"'dog' = token 'dog' (id {r.token_id}): ")
    table = r.to_table().splitlines()
    assert len(table) == 2 + len(r.features) + 1
    assert table[2].startswith(f"| {r.features[0]} | {r.coefficients[0]:.3f} | ")
    assert table[-1].startswith("| nearest by cosine | - | " + repr(r.neighbours[0]))
    assert r.to_dict()["n_nonzero"] == np.count_nonzero(r.code)


def test_a_word_is_mapped_to_its_single_token_or_refused(tiny_gpt2_dir, bert_features):
    from skfeatsparse.activations import TransformerActivations
    from skfeatsparse.studies import single_token_id, token_features

    tok = TransformerActivations(tiny_gpt2_dir).fit().tokenizer_
    (expected,) = tok.encode(" the", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(expected) == "Ġthe"  # byte-level BPE
    assert single_token_id(tok, "the") == expected
    assert single_token_id(tok, "Ġthe") == expected  # the token's own string
    with pytest.raises(ValueError, match="'dictionaryless' is not one token"):
        single_token_id(tok, "dictionaryless")
    act, _, dictionary = bert_features
    with pytest.raises(ValueError, match="is not one token"):  # not [UNK] either
        token_features(act, ["zzzqx"], dictionary=dictionary)
    with pytest.raises(ValueError, match="n_top must be a positive integer"):
        token_features(act, ["dog"], dictionary=dictionary, n_top=0)


def test_ablation_rows_carry_the_changed_setting():
    from skfeatsparse.studies import ablation_study, ablation_verdict

    small = dict(avg_actives=(2,), controls=("gaussian",), n_samples=300,
                 n_test=150, n_features=8, max_iter=3, n_resamples=20)  # fmt: skip
    rows = ablation_study("noise", **small)
    assert [(r["data"], r["noise"]) for r in rows] == [
        ("sparse-linear", 0.05), ("gaussian", 0.05),
        ("sparse-linear", 0.2), ("gaussian", 0.2),
    ]  # fmt: skip
    assert all(r["ablation"] == "noise" and r["value"] == r["noise"] for r in rows)
    # the data changed: more noise, a different held-out value
    assert rows[0]["normalized_loss"] != rows[2]["normalized_loss"]
    # the Gaussian has no noise to change: measured once, listed twice
    assert (
        rows[3]["shared_control"]
        and rows[1]["normalized_loss"] == rows[3]["normalized_loss"]
    )
    assert rows[2]["verdict"].startswith("noise=0.2, a=2: ")
    assert ablation_verdict(rows).splitlines()[1].startswith("noise=0.2: ")
    del small["n_features"]
    wide = ablation_study("width", (8, 12), **small)
    assert [r["n_features"] for r in wide] == [8, 8, 12, 12]
    assert wide[2]["n_components"] == 8 * 12  # the 8d dictionary grows with d
    features = ablation_study("features", **{**small, "n_features": 8})
    assert features[0]["true_features_ratio"] == 8


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        (("loudness",), {}, ValueError, "unknown ablation 'loudness'"),
        (("noise", (-0.1,)), {}, ValueError, r"noise must be a number >= 0.*-0.1"),
        (("width", (0,)), {}, ValueError, "n_features must be a positive integer"),
        (("dictionary", (0,)), {}, ValueError, "dictionary_ratio must be a number > 0"),
        (("noise", ()), {}, ValueError, "at least one value"),
        (("noise",), {"noise": 0.3}, TypeError, "sets noise itself"),
    ],
)
def test_bad_ablations_are_clear_errors(args, kwargs, error, message):
    from skfeatsparse.studies import ablation_study

    with pytest.raises(error, match=message):
        ablation_study(*args, **kwargs)
