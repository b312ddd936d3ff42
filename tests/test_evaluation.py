"""keras_relevance.evaluation against slow pure-Python references on a linear bag-of-words model.

The model is Embedding(mask_zero) → GlobalAveragePooling1D → Dense: its logits are
b + (1/L) Σ_t E[w_t] W with L the number of real tokens, so deleting a word (zero embedding, mask
kept) removes exactly its term E[w_t] W / L, and the exact word contributions are known.
"""

import keras
import numpy as np
import pytest

from keras_relevance import evaluation as ev

VOCAB, DIM, CLASSES = 12, 3, 3


@pytest.fixture
def bow(float64):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(VOCAB, DIM))
    emb[0] = 0.0
    kernel = rng.normal(size=(DIM, CLASSES))
    bias = np.array([0.1, -0.2, 0.05])
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCAB, DIM, mask_zero=True),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.layers[0].set_weights([emb])
    model.layers[2].set_weights([kernel, bias])
    ids = rng.integers(1, VOCAB, size=(40, 7))
    for i, length in enumerate(rng.integers(1, 8, size=40)):
        ids[i, length:] = 0
    return model, emb, kernel, bias, ids.astype(np.int32)


# ------------------------------------------------------------------ slow references
def ref_logits(emb, kernel, bias, row, deleted=(), mode="zero"):
    words = [w for w in row if w != 0]
    real = [t for t, w in enumerate(row) if w != 0]
    kept = [t for t in real if t not in deleted]
    total = np.zeros(DIM)
    for t in kept:
        total = total + emb[row[t]]
    length = len(real) if mode == "zero" else len(kept)
    pooled = total / length if length else np.zeros(DIM)
    assert len(words) == len(real)
    return pooled @ kernel + bias


def ref_contributions(emb, kernel, row, target):
    length = sum(1 for w in row if w != 0)
    return np.array([emb[w] @ kernel[:, target] / length if w != 0 else 0.0 for w in row])


def ref_order(rel_row, row, decreasing=True):
    real = [t for t, w in enumerate(row) if w != 0]
    sign = -1 if decreasing else 1
    return sorted(real, key=lambda t: (sign * rel_row[t], t))


def ref_softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def ref_curve(emb, kernel, bias, ids, labels, rel, k_max, decreasing, mode="zero"):
    acc = []
    for k in range(k_max + 1):
        hits = 0
        for row, y, r in zip(ids, labels, rel, strict=True):
            deleted = set(ref_order(r, row, decreasing)[:k])
            hits += int(np.argmax(ref_logits(emb, kernel, bias, row, deleted, mode)) == y)
        acc.append(hits / len(ids))
    return np.array(acc)


def exact_relevance(emb, kernel, ids, target):
    return np.stack(
        [ref_contributions(emb, kernel, r, t) for r, t in zip(ids, target, strict=True)]
    )


# ------------------------------------------------------------------ orderings
def test_deletion_ranks_ties_and_padding():
    rel = np.array([[0.5, 2.0, 0.5, -1.0, 9.0]])
    mask = np.array([[True, True, True, True, False]])
    assert ev.deletion_ranks(rel, mask, "decreasing").tolist() == [[1, 0, 2, 3, 4]]
    assert ev.deletion_ranks(rel, mask, "increasing").tolist() == [[1, 3, 2, 0, 4]]
    r = ev.random_relevance(mask, 3)
    assert r[0, 4] == 0 and np.array_equal(r, ev.random_relevance(mask, 3))
    with pytest.raises(ValueError):
        ev.deletion_ranks(rel, mask, "random")


def test_hand_computed_curve(float64):
    # 1-d embeddings, class 1 logit = mean value, class 0 logit = −mean value
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(5, 1, mask_zero=True),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    model.layers[0].set_weights([np.array([[0.0], [3.0], [-2.0], [1.0], [-0.5]])])
    model.layers[2].set_weights([np.array([[-1.0, 1.0]]), np.zeros(2)])
    ids = np.array([[1, 2, 3], [1, 4, 0], [3, 3, 0]], np.int32)  # sums 2, 2.5, 2 → class 1
    labels = np.array([1, 1, 1])
    rel = np.array([[3.0, -2.0, 1.0], [3.0, -0.5, 0.0], [1.0, 1.0, 0.0]])
    # k=1: [.,-2,1] wrong; [.,-.5] wrong; [.,1] right.  k=2: [.,-2,.] wrong; all deleted → tie
    # (class 0 by argmax); [.,.] tie → wrong.
    curve = ev.deletion_curve(model, ids, labels, rel, max_deletions=2, verbose=0)
    assert curve.tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    up = ev.deletion_curve(model, ids, labels, rel, "increasing", max_deletions=1, verbose=0)
    assert up.tolist() == pytest.approx([1.0, 1.0])  # deleting −2 / −0.5 / a 1 keeps class 1


# ------------------------------------------------------------------ deletion curves
def test_deletion_curves_match_reference(bow):
    model, emb, kernel, bias, ids = bow
    rng = np.random.default_rng(1)
    labels = rng.integers(0, CLASSES, size=len(ids))
    exact = exact_relevance(emb, kernel, ids, labels)
    noisy = exact + rng.normal(scale=0.05, size=exact.shape) * (ids != 0)
    res = ev.deletion_curves(
        model,
        ids,
        labels,
        {"exact": exact, "noisy": noisy},
        max_deletions=4,
        random_seeds=3,
        batch_size=7,
        verbose=0,
    )
    pred = np.array([np.argmax(ref_logits(emb, kernel, bias, r)) for r in ids])
    correct = pred == labels
    assert res["x"] == [0, 1, 2, 3, 4] and res["n"] == 40
    assert res["accuracy"] == pytest.approx(correct.mean())
    for kind, sel, dec in [("correct", correct, True), ("misclassified", ~correct, False)]:
        entry = res[kind]
        assert entry["n"] == sel.sum() and entry["order"] == ("decreasing" if dec else "increasing")
        for name, rel in [("exact", exact), ("noisy", noisy)]:
            want = ref_curve(emb, kernel, bias, ids[sel], labels[sel], rel[sel], 4, dec)
            np.testing.assert_allclose(entry["curves"][name], want)
        runs = [
            ref_curve(
                emb,
                kernel,
                bias,
                ids[sel],
                labels[sel],
                ev.random_relevance(ids != 0, s)[sel],
                4,
                dec,
            )
            for s in range(3)
        ]
        np.testing.assert_allclose(entry["random_mean"], np.mean(runs, axis=0))
        np.testing.assert_allclose(entry["random_std"], np.std(runs, axis=0))
    assert res["correct"]["curves"]["exact"][0] == 1.0
    assert res["misclassified"]["curves"]["exact"][0] == 0.0
    # exact contributions are the best single deletion for the true class on a linear model
    assert res["correct"]["curves"]["exact"][1] <= res["correct"]["random_mean"][1]


def test_deletion_curve_remove_mode(bow):
    model, emb, kernel, bias, ids = bow
    labels = np.array([np.argmax(ref_logits(emb, kernel, bias, r)) for r in ids])
    rel = exact_relevance(emb, kernel, ids, labels)
    # removing every word of a text leaves the masked mean 0/0: an error, not a NaN argmax
    with pytest.raises(ValueError, match="every word removed"):
        ev.deletion_curve(model, ids, labels, rel, max_deletions=3, deletion="remove", verbose=0)
    keep = (ids != 0).sum(axis=1) > 3
    ids, labels, rel = ids[keep], labels[keep], rel[keep]
    got = ev.deletion_curve(model, ids, labels, rel, max_deletions=3, deletion="remove", verbose=0)
    want = ref_curve(emb, kernel, bias, ids, labels, rel, 3, True, mode="remove")
    np.testing.assert_allclose(got, want)


def test_empty_subset_and_errors(bow):
    model, emb, kernel, bias, ids = bow
    labels = np.array([np.argmax(ref_logits(emb, kernel, bias, r)) for r in ids])
    res = ev.deletion_curves(
        model, ids, labels, {"r": np.zeros(ids.shape)}, random_seeds=0, verbose=0
    )
    assert res["misclassified"]["n"] == 0 and res["misclassified"]["curves"] == {"r": None}
    assert res["correct"]["random_mean"] is None
    with pytest.raises(ValueError, match="shape"):
        ev.deletion_curves(model, ids, labels, {"r": np.zeros((2, 2))}, verbose=0)
    with pytest.raises(ValueError, match="kinds"):
        ev.deletion_curves(model, ids, labels, kinds=("all",), verbose=0)
    with pytest.raises(ValueError, match="labels"):
        ev.deletion_curves(model, ids, labels[:3], verbose=0)


def test_method_names_go_through_the_explainer(bow):
    pytest.importorskip("keras_relevance.explainer")
    pytest.importorskip("keras_relevance.gradients")
    model, emb, kernel, bias, ids = bow
    labels = np.arange(len(ids)) % CLASSES
    exact = exact_relevance(emb, kernel, ids, labels)
    res = ev.deletion_curves(
        model,
        ids,
        labels,
        {"exact": exact},
        methods=["grad_input"],
        max_deletions=3,
        random_seeds=0,
        verbose=0,
    )
    for kind in ("correct", "misclassified"):
        np.testing.assert_allclose(res[kind]["curves"]["grad_input"], res[kind]["curves"]["exact"])
    # a callable works too
    again = ev.deletion_curve(
        model, ids, labels, lambda i, t: exact_relevance(emb, kernel, i, t), verbose=0
    )
    assert again.shape == (6,)


# ------------------------------------------------------------------ AOPC / ERASER / REAT
def test_aopc_matches_reference(bow):
    model, emb, kernel, bias, ids = bow
    pred = np.array([np.argmax(ref_logits(emb, kernel, bias, r)) for r in ids])
    rel = exact_relevance(emb, kernel, ids, pred)
    for order, score in [("morf", "logit"), ("lerf", "probability")]:
        res = ev.aopc(model, ids, rel, steps=4, order=order, score=score, verbose=0)
        per = []
        for row, c, r in zip(ids, pred, rel, strict=True):
            f = (lambda z: z) if score == "logit" else ref_softmax
            base = f(ref_logits(emb, kernel, bias, row))[c]
            seq = ref_order(r, row, decreasing=order == "morf")
            drops = [
                base - f(ref_logits(emb, kernel, bias, row, set(seq[:k])))[c] for k in range(5)
            ]
            per.append(np.mean(drops))
        np.testing.assert_allclose(res["per_example"], per)
        assert res["aopc"] == pytest.approx(np.mean(per))
        assert len(res["curve"]) == 5 and res["curve"][0] == 0.0
    # the exact contributions, MoRF, on logits: every step drops the logit by its contribution
    morf = ev.aopc(model, ids, rel, steps=4, verbose=0)["aopc"]
    lerf = ev.aopc(model, ids, rel, steps=4, order="lerf", verbose=0)["aopc"]
    assert morf > lerf


def test_eraser_matches_reference(bow):
    model, emb, kernel, bias, ids = bow
    target = np.full(len(ids), 2)
    rel = exact_relevance(emb, kernel, ids, target)
    bins = (1, 20, 50, 100)
    res = ev.eraser_scores(model, ids, rel, target=2, bins=bins, verbose=0)
    comp = np.zeros((len(ids), len(bins)))
    suff = np.zeros((len(ids), len(bins)))
    for i, (row, r) in enumerate(zip(ids, rel, strict=True)):
        length = int((row != 0).sum())
        base = ref_softmax(ref_logits(emb, kernel, bias, row))[2]
        seq = ref_order(r, row)
        for j, b in enumerate(bins):
            k = max(1, -(-length * b // 100))  # ceil
            rationale = set(seq[:k])
            rest = set(seq) - rationale
            comp[i, j] = base - ref_softmax(ref_logits(emb, kernel, bias, row, rationale))[2]
            suff[i, j] = base - ref_softmax(ref_logits(emb, kernel, bias, row, rest))[2]
    np.testing.assert_allclose(res["per_example"]["comprehensiveness"], comp)
    np.testing.assert_allclose(res["per_example"]["sufficiency"], suff)
    np.testing.assert_allclose(res["comprehensiveness"], comp.mean(axis=0))
    assert res["sufficiency_mean"] == pytest.approx(suff.mean())
    assert res["bins"] == list(bins)
    np.testing.assert_allclose(res["per_example"]["sufficiency"][:, -1], 0.0, atol=1e-12)


def test_reat_faithfulness_with_scores_and_relevance(bow):
    model, emb, kernel, bias, ids = bow
    lengths = (ids != 0).sum(axis=1)
    spans = [[(0, int(n) // 2), (int(n) // 2, int(n))] for n in lengths]
    pred = np.array([np.argmax(ref_logits(emb, kernel, bias, r)) for r in ids])
    rel = exact_relevance(emb, kernel, ids, pred)
    res = ev.reat_faithfulness(model, ids, spans, relevance=rel, verbose=0)
    scores = ev.clause_scores_from_relevance(rel, spans)
    per = []
    for row, c, sp, sc in zip(ids, pred, spans, scores, strict=True):
        best = int(np.argmax(sc))
        deleted = set(range(*sp[best]))
        base = ref_softmax(ref_logits(emb, kernel, bias, row))[c]
        per.append(base - ref_softmax(ref_logits(emb, kernel, bias, row, deleted))[c])
    np.testing.assert_allclose(res["per_example"], per)
    assert res["faithfulness"] == pytest.approx(np.mean(per))
    # explicit clause scores choose the clause
    forced = ev.reat_faithfulness(
        model, ids, spans, clause_scores=[[0.0, 1.0]] * len(ids), score="logit", verbose=0
    )
    assert forced["chosen"] == [1] * len(ids)
    with pytest.raises(ValueError):
        ev.reat_faithfulness(model, ids, spans, verbose=0)


def test_lexicon_interpretability_by_hand():
    tokens = [["good", "but", "bad"], ["Great", "awful", "fine"], ["good", "film"], ["bad"]]
    rel = np.array([[1.0, 0.0, -1.0], [0.5, 0.6, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    lex = (["good", "great", "fine"], ["bad", "awful"])
    res = ev.lexicon_interpretability(tokens, rel, lex)
    # text 1: positives {0.5, 2.0} vs negative 0.6 → 0.5 < 0.6, no match
    assert res == {
        "score": 0.5,
        "matches": 1,
        "texts": 2,
        "eligible": [0, 1],
        "matched": [True, False],
    }
    cased = ev.lexicon_interpretability(tokens, rel, lex, lower=False)  # "Great" is no match
    assert cased["matched"] == [True, True] and cased["score"] == 1.0
    # the second reading: mean of {0.5, 2.0} = 1.25 > 0.6 → text 1 matches
    mean = ev.lexicon_interpretability(tokens, rel, lex, match="mean")
    assert mean["matched"] == [True, True] and mean["score"] == 1.0
    with pytest.raises(ValueError, match="match must be"):
        ev.lexicon_interpretability(tokens, rel, lex, match="some")


def test_knn_accuracy_by_hand():
    # two tight clusters and one point of class 0 sitting in class 1's cluster
    x = np.array([[0.0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10], [10.5, 10.5]])
    y = np.array([0, 0, 0, 1, 1, 1, 0])
    # k=1: the intruder (d² = 0.5) is the nearest neighbour of all three class-1 points, and its
    # own nearest is class 1: only the class-0 cluster is right
    assert ev.knn_accuracy(x, y, k=1) == pytest.approx(3 / 7)
    # k=3: class-1 points see {0, 1, 1} → right; the intruder sees three class-1 points → miss
    assert ev.knn_accuracy(x, y, k=3) == pytest.approx(6 / 7)
    with pytest.raises(ValueError, match="k must be"):
        ev.knn_accuracy(x, y, k=7)
    with pytest.raises(ValueError, match="7 vectors for 6 labels"):
        ev.knn_accuracy(x, y[:6], k=1)


def test_lexicon_interpretability_restricted_to_tags_by_hand():
    tokens = [["good", "but", "bad"], ["Great", "awful", "fine"], ["good", "film"], ["bad"]]
    rel = np.array([[1.0, 0.0, -1.0], [0.5, 0.6, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    lex = (["good", "great", "fine"], ["bad", "awful"])
    tags = [["ADJ", "CONJ", "ADJ"], ["ADJ", "ADJ", "ADV"], ["ADJ", "NOUN"], ["ADJ"]]
    # text 1: "fine" is tagged ADV, so only "Great" (0.5) vs "awful" (0.6) count → no match
    res = ev.lexicon_interpretability(tokens, rel, lex, tags=tags, match="mean")
    assert res["eligible"] == [0, 1] and res["matched"] == [True, False]
    # text 0 without its negative adjective is not counted at all
    tags[0][2] = "VERB"
    assert ev.lexicon_interpretability(tokens, rel, lex, tags=tags)["eligible"] == [1]
    with pytest.raises(ValueError, match="tags"):
        ev.lexicon_interpretability(tokens, rel, lex, tags=tags[:2])


# ------------------------------------------------------------------ analyses
def test_top_words_by_hand():
    tokens = [["a", "good", "film"], ["a", "bad", "film"], ["good", "plot"]]
    rel = [np.array([0.0, 2.0, 0.5]), np.array([0.1, 3.0, 0.2]), np.array([1.0, -1.0])]
    out = ev.top_words(tokens, rel, classes=[1, 0, 1], k=2)
    assert out[1]["most"] == [("good", 1.5, 2), ("film", 0.5, 1)]
    assert out[1]["least"] == [("plot", -1.0, 1), ("a", 0.0, 1)]
    assert out[0]["most"][0] == ("bad", 3.0, 1)
    assert ev.top_words(tokens, rel, [1, 0, 1], min_count=2)[1]["most"] == [("good", 1.5, 2)]
    assert ev.top_words(tokens, rel, [1, 0, 1], aggregate="sum")[1]["most"][0] == ("good", 3.0, 2)


def test_position_distribution_by_hand():
    rel = np.array([[1.0, 2.0, 0.0, 0.0], [1.0, -1.0, 3.0, 5.0]])
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    out = ev.position_distribution(rel, mask, bins=2)
    assert out["total"] == [1.0 + 1.0 - 1.0, 2.0 + 3.0 + 5.0]
    assert out["count"] == [3, 3] and out["bins"] == [0.5, 1.0]
    assert out["negative"] == [-1.0, 0.0] and out["positive"] == [2.0, 10.0]
    both = ev.position_distribution({"forward": rel, "backward": -rel}, mask, bins=2)
    assert both["backward"]["total"] == [-1.0, -10.0]
    ten = ev.position_distribution(np.ones((1, 3)), bins=10)
    assert ten["count"] == [1, 0, 0, 1, 0, 0, 1, 0, 0, 0]  # t·10//3 = 0, 3, 6


def test_pos_distribution_by_hand():
    tags = [["DET", "NOUN", "VERB"], ["ADJ", "NOUN"]]
    rel = [np.array([0.1, 0.5, 0.2]), np.array([2.0, 1.0])]
    out = ev.pos_distribution(tags, rel)
    assert out["tags"] == ["ADJ", "DET", "NOUN", "VERB"]
    assert out["mean"] == pytest.approx([2.0, 0.1, 0.75, 0.2])
    assert out["count"] == [1, 1, 2, 1]
    assert out["top_fraction"] == [0.5, 0.0, 0.5, 0.0]


def test_document_vectors_and_pca():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(6, 4))
    ids = np.array([[1, 2, 0], [3, 3, 5]])
    rel = np.array([[0.5, -1.0, 9.0], [1.0, 2.0, 0.0]])
    docs = ev.document_vectors(ids, matrix, rel, normalize=False)
    np.testing.assert_allclose(docs[0], 0.5 * matrix[1] - matrix[2])
    np.testing.assert_allclose(docs[1], 3 * matrix[3])
    pos = ev.document_vectors(ids, matrix, rel, positive_only=True)
    np.testing.assert_allclose(pos[0], matrix[1] / np.linalg.norm(matrix[1]))
    uniform = ev.document_vectors(ids, matrix, normalize=False)
    np.testing.assert_allclose(uniform[1], 2 * matrix[3] + matrix[5])

    x = rng.normal(size=(30, 5)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    out = ev.pca(x, 2)
    centered = x - x.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov(centered.T))
    top = eigvec[:, ::-1][:, :2]
    for j in range(2):
        assert abs(abs(out["components"][j] @ top[:, j]) - 1) < 1e-8
    np.testing.assert_allclose(out["explained_variance_ratio"], eigval[::-1][:2] / eigval.sum())
    np.testing.assert_allclose(out["projection"], centered @ out["components"].T)


def test_recurrent_model_remove_equals_shorter_input(capsys):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 4, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(3)),
            keras.layers.Dense(2),
        ]
    )
    rng = np.random.default_rng(2)
    ids = rng.integers(1, VOCAB, size=(9, 5)).astype(np.int32)
    ids[3, 2:] = 0
    rel = rng.normal(size=ids.shape)
    labels = np.asarray(model(ids)).argmax(-1)
    got = ev.deletion_curve(
        model, ids, labels, rel, max_deletions=2, deletion="remove", batch_size=4, verbose=1
    )
    assert "example" in capsys.readouterr().out  # the progress bar
    want = [1.0]
    for k in (1, 2):
        shorter = np.zeros_like(ids)
        for i, row in enumerate(ids):
            drop = set(ref_order(rel[i], row)[:k])
            kept = [w for t, w in enumerate(row) if w != 0 and t not in drop]
            shorter[i, : len(kept)] = kept
        want.append(float((np.asarray(model(shorter)).argmax(-1) == labels).mean()))
    np.testing.assert_allclose(got, want)
    # zero deletion = the chain run eagerly on embeddings with those rows zeroed
    from keras_relevance.graph import ModelGraph

    chain = ModelGraph.from_model(model)
    emb, mask = chain.embed(ids)
    ranks = ev.deletion_ranks(rel, ids != 0)
    zeroed = np.asarray(emb) * ~((ranks < 1) & (ids != 0))[:, :, None]
    expect = np.asarray(chain.logits(zeroed, mask)).argmax(-1) == labels
    got = ev.deletion_curve(model, ids, labels, rel, max_deletions=1, verbose=0)
    assert got[1] == pytest.approx(expect.mean())
