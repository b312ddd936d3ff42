"""The metrics added in issue 14 against hand-computed values and slow NumPy references.

Model: the linear bag-of-words of test_evaluation (Embedding(mask_zero) → mean → Dense), whose
logits with words deleted are known in closed form (zero: the mean keeps the original length;
remove: the mean over the words left).
"""

import itertools

import keras
import numpy as np
import pytest
from test_evaluation import (
    bow,  # noqa: F401  (the fixture)
    exact_relevance,
    ref_logits,
    ref_order,
    ref_softmax,
)

from keras_relevance import analysis
from keras_relevance import evaluation as ev
from keras_relevance.datasets import load_sst, sst_rationales, sst_word_polarity
from keras_relevance.explainer import Explainer
from keras_relevance.perturbation import masked_logits_fn


# ------------------------------------------------------------------ independent statistics
def slow_tau_b(x, y):
    c = d = tx = ty = 0
    n = len(x)
    for i, j in itertools.combinations(range(n), 2):
        a, b = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        tx += a == 0
        ty += b == 0
        c += a * b > 0
        d += a * b < 0
    n0 = n * (n - 1) / 2
    denom = np.sqrt((n0 - tx) * (n0 - ty))
    return (c - d) / denom if denom > 0 else np.nan


def test_kendall_tau_b_hand_and_scipy_values():
    assert analysis.kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # ties: C=2, D=0, n0=3, one pair tied in x → 2 / sqrt(2 · 3)
    assert analysis.kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / np.sqrt(6))
    # scipy.stats.kendalltau docs example
    assert analysis.kendall_tau_b([12, 2, 1, 12, 2], [1, 4, 7, 1, 0]) == pytest.approx(
        -0.47140452079103173)
    assert np.isnan(analysis.kendall_tau_b([1, 1, 1], [1, 2, 3]))
    assert np.isnan(analysis.kendall_tau_b([1], [2]))
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 4, 9), rng.integers(0, 4, 9)
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert analysis.kendall_tau_b(x, y) == pytest.approx(slow_tau_b(x, y))


def test_spearman_average_precision_token_f1_by_hand():
    # scipy.stats.spearmanr docs example (a tie in y)
    assert analysis.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(
        0.8207826816681233)
    assert analysis.rankdata([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]
    # sklearn.metrics.average_precision_score docs example
    assert analysis.average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(
        0.8333333333333333)
    # tied scores enter together: one threshold holding 1 positive of 2 → P = 1/2, R = 1
    assert analysis.average_precision([1.0, 1.0], [1, 0]) == pytest.approx(0.5)
    assert np.isnan(analysis.average_precision([1.0, 2.0], [0, 0]))
    # top-2 = positions 3, 0 ; rationale {0, 1}: P = 1/2, R = 1/2
    assert analysis.token_f1([0.9, 0.1, 0.0, 1.0], [1, 1, 0, 0]) == pytest.approx(0.5)
    # k=1 → position 3 only, no hit
    assert analysis.token_f1([0.9, 0.1, 0.0, 1.0], [1, 1, 0, 0], k=1) == 0.0
    # k=3 → {3, 0, 1}: P = 2/3, R = 1 → F1 = 0.8
    assert analysis.token_f1([0.9, 0.1, 0.0, 1.0], [1, 1, 0, 0], k=3) == pytest.approx(0.8)


def test_bootstrap_ci():
    values = np.arange(100, dtype=float)
    mean, (low, high) = analysis.bootstrap_ci(values, n_boot=2000)
    assert mean == pytest.approx(49.5)
    se = values.std() / np.sqrt(100)
    assert low == pytest.approx(49.5 - 1.96 * se, abs=1.0)
    assert high == pytest.approx(49.5 + 1.96 * se, abs=1.0)
    # several seeds: the mean of the seed means; spread across seeds widens the interval
    seeds = [values, values + 40.0]
    mean2, (low2, high2) = analysis.bootstrap_ci(seeds, n_boot=2000)
    assert mean2 == pytest.approx(69.5) and high2 - low2 > high - low
    assert np.isnan(analysis.bootstrap_ci([np.array([np.nan])])[0])


# ------------------------------------------------------------------ one trace
def test_scorer_is_traced_once_across_calls_and_explainers(bow):  # noqa: F811
    model, emb, kernel, bias, ids = bow
    ids = ids[(ids != 0).sum(axis=1) >= 2]  # remove leaves no text empty (0/0 in the mean)
    rel = exact_relevance(emb, kernel, ids, np.zeros(len(ids), int))
    ev.deletion_curves(model, ids, np.zeros(len(ids), int), {"x": rel}, max_deletions=2,
                       random_seeds=1, verbose=0)
    fn = masked_logits_fn(Explainer(model).chain)
    count = fn.experimental_get_tracing_count()
    assert count >= 1
    for deletion in ("zero", "remove"):
        ev.deletion_curves(Explainer(model), ids[:7, :5], np.zeros(7, int), {"x": rel[:7, :5]},
                           max_deletions=1, random_seeds=2, deletion=deletion, verbose=0)
        ev.eraser_scores(model, ids, rel, target=0, deletion=deletion, verbose=0)
        ev.insertion_curves(model, ids, rel, target=0, verbose=0)
        ev.taucorr_loo(model, ids, rel, target=0, deletion=deletion, verbose=0)
        Explainer(model).explain(ids, method="occlusion")
    assert fn.experimental_get_tracing_count() == count


# ------------------------------------------------------------------ insertion, ERASER remove
def test_insertion_curves_match_reference(bow):  # noqa: F811
    deletion = "zero"
    model, emb, kernel, bias, ids = bow
    target = np.array([np.argmax(ref_logits(emb, kernel, bias, r)) for r in ids])
    rel = exact_relevance(emb, kernel, ids, target)
    steps = 4
    res = ev.insertion_curves(model, ids, lambda i, t: rel, steps=steps, deletion=deletion,
                              labels=target, verbose=0)
    values = np.zeros((len(ids), steps + 1))
    hits = np.zeros(steps + 1)
    for i, (row, c, r) in enumerate(zip(ids, target, rel, strict=True)):
        seq = ref_order(r, row)
        for k in range(steps + 1):
            deleted = set(seq[k:])  # only the k most relevant are in
            z = ref_logits(emb, kernel, bias, row, deleted, deletion)
            values[i, k] = ref_softmax(z)[c]
            hits[k] += np.argmax(z) == c
    np.testing.assert_allclose(res["per_example"], values, atol=1e-12)
    gains = (values - values[:, :1]).mean(axis=1)
    np.testing.assert_allclose(res["per_example_aopc"], gains, atol=1e-12)
    assert res["aopc"] == pytest.approx(gains.mean())
    assert res["auc"] == pytest.approx(values.mean())
    np.testing.assert_allclose(res["accuracy"], hits / len(ids))
    via_aopc = ev.aopc(model, ids, rel, steps=steps, kind="insertion", score="probability",
                       deletion=deletion, verbose=0)
    assert via_aopc["aopc"] == pytest.approx(gains.mean())
    full = ev.insertion_curves(model, ids, rel, steps=None, deletion=deletion, verbose=0)
    base = np.array([ref_softmax(ref_logits(emb, kernel, bias, r))[c]
                     for r, c in zip(ids, target, strict=True)])
    np.testing.assert_allclose(full["per_example"][:, -1], base, atol=1e-12)  # all inserted
    with pytest.raises(ValueError, match="kind"):
        ev.aopc(model, ids, rel, kind="sideways", verbose=0)
    # remove: x_(0) is the empty text, where a masked mean is 0/0: a clear error, no NaN
    with pytest.raises(ValueError, match="every word removed"):
        ev.insertion_curves(model, ids, rel, deletion="remove", verbose=0)


def test_insertion_remove_equals_the_model_on_shorter_texts():
    model = _gru(4)
    rng = np.random.default_rng(5)
    ids = rng.integers(1, 20, size=(6, 5)).astype(np.int32)
    ids[2, 3:] = 0
    rel = rng.normal(size=ids.shape)
    res = ev.insertion_curves(model, ids, rel, steps=5, deletion="remove", score="logit",
                              verbose=0)
    target = np.asarray(model(ids)).argmax(-1)
    for k in range(6):
        shorter = np.zeros_like(ids)
        for i, row in enumerate(ids):
            top = set(ref_order(rel[i], row)[:k])
            kept = [w for t, w in enumerate(row) if t in top]
            shorter[i, : len(kept)] = kept
        want = np.asarray(model(shorter))[np.arange(len(ids)), target]
        np.testing.assert_allclose(res["per_example"][:, k], want, rtol=1e-5, atol=1e-5)


def test_eraser_remove_matches_reference(bow):  # noqa: F811
    model, emb, kernel, bias, ids = bow
    ids = ids[(ids != 0).sum(axis=1) >= 2]  # no text left empty
    rel = exact_relevance(emb, kernel, ids, np.full(len(ids), 1))
    bins = (20, 50)
    res = ev.eraser_scores(model, ids, rel, target=1, bins=bins, deletion="remove", verbose=0)
    for i, (row, r) in enumerate(zip(ids, rel, strict=True)):
        length = int((row != 0).sum())
        base = ref_softmax(ref_logits(emb, kernel, bias, row))[1]
        seq = ref_order(r, row)
        for j, b in enumerate(bins):
            k = max(1, -(-length * b // 100))
            comp = base - ref_softmax(ref_logits(emb, kernel, bias, row, set(seq[:k]),
                                                 "remove"))[1]
            suff = base - ref_softmax(ref_logits(emb, kernel, bias, row, set(seq[k:]),
                                                 "remove"))[1]
            assert res["per_example"]["comprehensiveness"][i, j] == pytest.approx(comp)
            assert res["per_example"]["sufficiency"][i, j] == pytest.approx(suff)


# ------------------------------------------------------------------ taucorr_loo
@pytest.mark.parametrize("deletion", ["remove", "zero"])
def test_taucorr_loo_matches_reference(bow, deletion):  # noqa: F811
    model, emb, kernel, bias, ids = bow
    ids = ids[(ids != 0).sum(axis=1) >= 2]  # no text left empty
    rng = np.random.default_rng(3)
    rel = rng.normal(size=ids.shape) * (ids != 0)
    res = ev.taucorr_loo(model, ids, rel, deletion=deletion, verbose=0)
    taus = []
    for i, row in enumerate(ids):
        z = ref_logits(emb, kernel, bias, row)
        c = int(np.argmax(z))
        real = [t for t, w in enumerate(row) if w != 0]
        loo = [ref_softmax(z)[c] - ref_softmax(ref_logits(emb, kernel, bias, row, {t},
                                                           deletion))[c] for t in real]
        np.testing.assert_allclose(res["loo"][i, real], loo, atol=1e-12)
        taus.append(slow_tau_b(rel[i, real], np.array(loo)) if len(real) > 1 else np.nan)
    np.testing.assert_allclose(res["per_example"], taus, atol=1e-12)
    assert res["taucorr_loo"] == pytest.approx(np.nanmean(taus))
    # occlusion (zero) on the target logit equals leave-one-out with deletion="zero", logit
    occ = Explainer(model).explain(ids, method="occlusion").relevance
    loo = ev.leave_one_out(model, ids, score="logit", deletion="zero", verbose=0)
    np.testing.assert_allclose(loo, occ, atol=1e-10)


# ------------------------------------------------------------------ plausibility
def test_plausibility_by_hand():
    ids = np.array([[5, 6, 7, 0], [1, 2, 0, 0], [3, 4, 5, 6]])
    rel = np.array([[0.9, 0.1, 0.5, 9.0], [1.0, 2.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    gold = np.array([[1, 0, 1, 1], [0, 0, 0, 0], [0, 0, 1, 0]], bool)  # padding never counts
    res = ev.plausibility(None, ids, rel, gold)
    # text 0: order 0, 2, 1 with gold 1, 1, 0 → AP = 1; top-2 = {0, 2} → F1 = 1
    # text 1: no rationale → left out; text 2: order 3, 2, … gold at rank 2 → AP = 1/2;
    # top-1 = {3} → F1 = 0
    np.testing.assert_allclose(res["per_example"]["auprc"], [1.0, np.nan, 0.5])
    np.testing.assert_allclose(res["per_example"]["token_f1"], [1.0, np.nan, 0.0])
    assert res["auprc"] == pytest.approx(0.75) and res["token_f1"] == pytest.approx(0.5)
    assert res["n"] == 2
    with pytest.raises(ValueError, match="needs the model"):
        ev.plausibility(None, ids, "sa", gold)


def test_sst_word_polarity_and_rationales(tmp_path):
    (tmp_path / "test.txt").write_text(
        "(3 (2 it) (4 (2 's) (4 (3 good) (1 bad))))\n(1 (2 not) (1 (0 awful) (2 .)))\n")
    sst = load_sst(tmp_path, "test", fine_grained=False)
    assert sst_word_polarity(sst.phrases[0]).tolist() == [0, 0, 1, -1]
    assert sst_word_polarity(sst.phrases[1]).tolist() == [0, -1, 0]
    masks = sst_rationales(sst, sst.labels, width=5)
    assert masks.tolist() == [[False, False, True, False, False],
                              [False, True, False, False, False]]
    assert sst_rationales(sst, 0)[0].tolist() == [False, False, False, True]  # negative class
    fine = load_sst(tmp_path, "test", fine_grained=True)
    assert not sst_rationales(fine, 2).any()  # neutral: no rationale
    assert sst_rationales(fine, 4)[0].tolist() == [False, False, True, False]
    with pytest.raises(ValueError, match="width"):
        sst_rationales(sst, 1, width=2)


# ------------------------------------------------------------------ randomisation
def _gru(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((None,), dtype="int32"),
                              keras.layers.Embedding(20, 6, mask_zero=True),
                              keras.layers.GRU(5), keras.layers.Dense(3)])
    return model


def test_randomization_test_cascade_and_data():
    model = _gru(0)
    before = [w.copy() for w in model.get_weights()]
    ids = np.random.default_rng(0).integers(1, 20, size=(12, 6)).astype(np.int32)

    def blind(m, x, target):  # ignores the model: must be flagged
        return np.where(x != 0, x.astype(float), 0.0)

    res = ev.randomization_test(model, ids, {"grad_input": "grad_input", "blind": blind},
                                data_model=_gru(1), threshold=0.9, seed=3)
    assert res["layers"] == [layer.name for layer in reversed(model.layers)]  # head first
    assert len(res["layers"]) == 3
    assert res["spearman"]["blind"] == pytest.approx([1.0, 1.0, 1.0])
    assert min(res["logit_change"]) > 0  # every step changed the model
    assert res["per_example"]["grad_input"].shape == (3, 12)
    assert res["spearman"]["grad_input"][-1] < 0.9
    assert res["flagged"]["cascade"] == ["blind"]
    assert res["data"]["blind"] == pytest.approx(1.0) and res["flagged"]["data"] == ["blind"]
    assert res["data_per_example"]["blind"].shape == (12,)
    assert np.nanmean(res["data_per_example"]["grad_input"]) == pytest.approx(
        res["data"]["grad_input"])
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the trained model is untouched
    with pytest.raises(ValueError, match="no weights"):
        ev.randomization_test(model, ids, ["sa"], layers=["nope"])


# ------------------------------------------------------------------ compare
def test_compare_table_matches_direct_calls(bow, tmp_path):  # noqa: F811
    model, emb, kernel, bias, ids = bow
    other = keras.models.clone_model(model)
    other.set_weights([w * 0.5 for w in model.get_weights()])

    def exact(i, t):
        return exact_relevance(emb, kernel, i, t)

    table = ev.compare({7: model, 8: other}, (ids, np.zeros(len(ids), int)),
                       {"exact": exact, "sa": "sa"}, ["aopc", "insertion_aopc"], steps=3,
                       n_boot=200, verbose=False)
    assert table.seeds == [7, 8] and len(table) == 4
    row = table.get("exact", "aopc")
    direct = [ev.aopc(m, ids, exact, steps=3, score="probability", verbose=0)["aopc"]
              for m in (model, other)]
    np.testing.assert_allclose(row["per_seed"], direct)
    assert row["mean"] == pytest.approx(np.mean(direct))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    md = table.to_markdown()
    assert "| exact |" in md and "aopc ↑" in md
    assert table.to_pandas().shape == (4, 8)
    path = table.plot(tmp_path / "cmp.svg")
    assert path.read_text().startswith("<svg") and "insertion_aopc" in path.read_text()
    with pytest.raises(KeyError, match="unknown metric"):
        ev.compare(model, ids, ["sa"], ["speed"])
    with pytest.raises(ValueError, match="rationales"):
        ev.compare(model, ids, ["sa"], ["auprc"], verbose=False)
