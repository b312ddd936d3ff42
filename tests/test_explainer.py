"""The public Explainer API: registry, targets, batching, Explanation, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_relevance import explainer as kx
from keras_relevance.explainer import METHODS, Explainer, Explanation, register_method
from keras_relevance.graph import MethodResult


def _build(policy, layers, seed=0):
    """A Sequential of `layers()` (a function: layers must be created under the policy)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        return keras.Sequential(layers())
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.fixture(scope="module")
def lstm_model():
    model = _build("float64", lambda: [
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(20, 4, mask_zero=True),
        keras.layers.LSTM(3),
        keras.layers.Dense(3, activation="softmax"),
    ])
    return model


@pytest.fixture(scope="module")
def ex(lstm_model):
    return Explainer(lstm_model, batch_size=2)


@pytest.fixture(scope="module")
def embedded_model():
    return _build("float64", lambda: [
        keras.Input((None, 4)),
        keras.layers.GRU(3),
        keras.layers.Dense(2),
    ])


IDS = np.array([[1, 2, 3, 0], [4, 5, 0, 0], [0, 0, 0, 0], [6, 7, 8, 9], [19, 1, 0, 0]])


# ------------------------------------------------------------------------------ registry
def test_registry_names():
    for name in ["lrp", "lrp_cons", "sa", "gradient", "grad_input", "integrated_gradients",
                 "occlusion", "lime", "reat", "naive_reat"]:
        assert name in METHODS
    assert all(isinstance(v, str) and ":" in v for v in METHODS.values())


def test_unknown_method_lists_known(ex):
    with pytest.raises(KeyError) as info:
        ex.explain(IDS, method="nope")
    assert "unknown method 'nope'" in str(info.value)
    assert "'sa'" in str(info.value) and "'lime'" in str(info.value)


def test_register_method_and_defaults(ex):
    calls = []

    def explain_ones(chain, emb, mask, target, scale=1.0):
        calls.append((emb.shape, scale))
        return MethodResult(relevance=scale * np.ones(mask.shape))

    register_method("_ones", explain_ones, scale=2.0)
    try:
        e = ex.explain(IDS, method="_ones")
        np.testing.assert_array_equal(e.relevance, 2.0 * (IDS != 0))
        assert e.options == {"scale": 2.0}
        assert ex.explain(IDS, method="_ones", scale=3.0).options == {"scale": 3.0}
        # rows without tokens never reach the method; batches are split by batch_size=2
        assert [c[0][0] for c in calls[:2]] == [2, 2]  # 4 rows with tokens, batch_size=2
    finally:
        METHODS.pop("_ones")
        kx.METHOD_DEFAULTS.pop("_ones", None)
    with pytest.raises(TypeError):
        register_method("_bad", 42)


def test_lrp_cons_is_lrp_with_bias_factor_one():
    assert METHODS["lrp_cons"] == METHODS["lrp"]
    assert kx.METHOD_DEFAULTS["lrp_cons"] == {"bias_factor": 1.0}


def test_method_error_passes_through(ex):
    def explain_refuses(chain, emb, mask, target):
        raise NotImplementedError("no rule for layer 'weird' (supported: LSTM, GRU)")

    register_method("_refuses", explain_refuses)
    try:
        with pytest.raises(NotImplementedError, match="no rule for layer 'weird'"):
            ex.explain(IDS, method="_refuses")
    finally:
        METHODS.pop("_refuses")


def test_method_returning_nan_is_refused(ex):
    register_method("_nan", lambda chain, emb, mask, target: MethodResult(
        relevance=np.full(mask.shape, np.nan)))
    try:
        with pytest.raises(ValueError, match="non-finite relevance"):
            ex.explain(IDS, method="_nan")
    finally:
        METHODS.pop("_nan")


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, keras_relevance, keras_relevance.explainer as e; "
            "print(any(m in sys.modules for m in ['keras_relevance.gradients', "
            "'keras_relevance.perturbation', 'keras_relevance.lrp', 'keras_relevance.reat']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ results
def test_explanation_fields(ex, lstm_model):
    e = ex.explain(IDS, method="grad_input")
    assert isinstance(e, Explanation) and len(e) == 5
    assert e.relevance.shape == (5, 4) and e.per_dim.shape == (5, 4, 4)
    assert e.mask.dtype == bool and (e.mask == (IDS != 0)).all()
    assert (e.relevance[~e.mask] == 0).all() and (e.per_dim[~e.mask] == 0).all()
    assert (e.relevance[2] == 0).all() and np.isfinite(e.relevance).all()
    # logits are pre-softmax: softmax of them is the model's output
    probs = np.asarray(lstm_model(IDS))
    np.testing.assert_allclose(np.asarray(tf.nn.softmax(e.logits)), probs, atol=1e-12)
    np.testing.assert_array_equal(e.target, e.logits.argmax(1))
    assert e.delta is None and e.method == "grad_input" and e.options == {}


def test_indexing_and_top_tokens(ex):
    e = ex.explain(IDS, method="sa")
    one = e[0]
    assert one.relevance.shape == (4,) and isinstance(one.target, int)
    assert one.logits.shape == (3,) and one.per_dim.shape == (4, 4)
    top = one.top_tokens(2)
    assert len(top) == 2 and top[0][1] >= top[1][1]
    assert all(pos < 3 for pos, _ in one.top_tokens(10))  # padding never listed
    assert len(one.top_tokens(10)) == 3
    assert one.top_tokens(1, tokens=["a", "b", "c", "<pad>"])[0][1] in "abc"
    sub = e[1:3]
    assert isinstance(sub, Explanation) and len(sub) == 2
    np.testing.assert_array_equal(sub.relevance, e.relevance[1:3])
    assert len(e[[0, 4]]) == 2 and e[-1].target == e.target[-1]
    assert len(e.top_tokens(1)) == 5
    with pytest.raises(IndexError):
        e[5]


@pytest.mark.parametrize("target", [None, 1, np.int64(2), [0, 1, 2, 0, 1],
                                    np.array([2, 2, 1, 0, 0]), tf.constant([1, 1, 1, 1, 1])])
def test_target_variants(ex, target):
    e = ex.explain(IDS, method="gradient", target=target)
    if target is None:
        expected = e.logits.argmax(1)
    else:
        expected = np.broadcast_to(np.asarray(target), (5,))
    np.testing.assert_array_equal(e.target, expected)
    assert e.target.shape == (5,)


def test_target_changes_explanation(ex):
    a = ex.explain(IDS, method="gradient", target=0).relevance
    b = ex.explain(IDS, method="gradient", target=1).relevance
    assert not np.allclose(a[0], b[0])


def test_batch_split_matches_whole(lstm_model):
    whole = Explainer(lstm_model).explain(IDS, method="grad_input")
    split = Explainer(lstm_model, batch_size=1).explain(IDS, method="grad_input")
    np.testing.assert_allclose(split.relevance, whole.relevance, atol=1e-12)
    np.testing.assert_allclose(split.logits, whole.logits, atol=1e-12)


def test_chain_is_cached(ex):
    assert ex.chain is ex.chain


def test_tensor_and_ragged_input(ex):
    ref = ex.explain(IDS[:2], method="sa").relevance
    np.testing.assert_allclose(ex.explain(tf.constant(IDS[:2]), method="sa").relevance, ref)
    ragged = ex.explain([[1, 2, 3], [4, 5]], method="sa")
    np.testing.assert_allclose(ragged.relevance, ref[:, :3], atol=1e-12)
    np.testing.assert_allclose(
        ex.explain(tf.ragged.constant([[1, 2, 3], [4, 5]]), method="sa").relevance,
        ref[:, :3], atol=1e-12)


# ------------------------------------------------------------------------------ bad input
def test_empty_batch_gives_empty_explanation(ex):
    for empty in (np.zeros((0, 4), np.int32), [], np.zeros((0, 0), np.int64)):
        e = ex.explain(empty, method="sa")
        assert len(e) == 0 and e.relevance.shape[0] == 0 and e.logits.shape == (0, 3)
        assert e.target.shape == (0,)


def test_length_zero_and_all_padding_rows(ex):
    e = ex.explain(np.zeros((2, 0), np.int32), method="integrated_gradients")
    assert e.relevance.shape == (2, 0) and np.isfinite(e.logits).all()
    for method in ("sa", "gradient", "grad_input", "integrated_gradients", "occlusion", "lime"):
        e = ex.explain(np.zeros((3, 5), np.int32), method=method)
        assert (e.relevance == 0).all() and np.isfinite(e.logits).all()


@pytest.mark.parametrize("bad,pos", [(20, (1, 2)), (1000, (0, 0))])
def test_ids_outside_vocabulary(ex, bad, pos):
    ids = np.array([[1, 2, 3], [4, 5, 6]])
    ids[pos] = bad
    with pytest.raises(ValueError) as info:
        ex.explain(ids, method="sa")
    msg = str(info.value)
    assert str(bad) in msg and f"row {pos[0]}, time {pos[1]}" in msg and "vocab size 20" in msg


def test_negative_ids(ex):
    with pytest.raises(ValueError, match=r"token id -1 at position \(row 0, time 1\) is negative"):
        ex.explain(np.array([[1, -1, 2]]), method="sa")


def test_float_ids(ex):
    with pytest.raises(TypeError, match="float64"):
        ex.explain(np.array([[1.0, 2.0]]), method="sa")
    with pytest.raises(TypeError, match="float32"):
        ex.explain(tf.constant([[1.0, 2.0]]), method="sa")
    with pytest.raises(TypeError):
        ex.explain(np.array([[True, False]]), method="sa")


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), ()])
def test_wrong_rank(ex, shape):
    with pytest.raises(ValueError, match="shape"):
        ex.explain(np.ones(shape, np.int32), method="sa")


@pytest.mark.parametrize("target,text", [(3, "target 3"), (-1, "target -1"),
                                         ([0, 7], "target 7")])
def test_target_out_of_range(ex, target, text):
    with pytest.raises(ValueError) as info:
        ex.explain(IDS[:2], method="sa", target=target)
    assert text in str(info.value) and "3 classes" in str(info.value)


def test_bad_target_type_and_length(ex):
    with pytest.raises(TypeError, match="float"):
        ex.explain(IDS[:2], method="sa", target=1.0)
    with pytest.raises(ValueError, match="one int per example"):
        ex.explain(IDS[:2], method="sa", target=[0, 1, 2])


def test_model_without_embedding_takes_embeddings(embedded_model):
    ex = Explainer(embedded_model)
    x = np.random.default_rng(0).normal(size=(3, 5, 4))
    e = ex.explain(x, method="grad_input")
    assert e.relevance.shape == (3, 5) and e.mask.all() and e.per_dim.shape == (3, 5, 4)
    np.testing.assert_allclose(e.relevance, e.per_dim.sum(-1), atol=1e-12)
    with pytest.raises(TypeError, match="int64"):
        ex.explain(np.ones((3, 5), np.int64), method="sa")
    with pytest.raises(ValueError, match="embeddings"):
        ex.explain(np.ones((3, 5)), method="sa")
    with pytest.raises(ValueError, match="embedding size 6"):
        ex.explain(np.ones((3, 5, 6)), method="sa")
    with pytest.raises(ValueError, match="NaN"):
        ex.explain(np.full((1, 2, 4), np.nan), method="sa")


def test_non_finite_weights_refused():
    model = _build("float32", lambda: [keras.Input((None,), dtype="int32"),
                               keras.layers.Embedding(10, 3), keras.layers.GRU(2),
                               keras.layers.Dense(2)])
    ex = Explainer(model)
    assert np.isfinite(ex.explain([[1, 2]], method="sa").relevance).all()
    kernel = model.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN/Inf"):
        ex.explain([[1, 2]], method="sa")


def test_non_finite_logits_refused():
    model = _build("float32", lambda: [keras.Input((None,), dtype="int32"),
                               keras.layers.Embedding(10, 3),
                               keras.layers.GlobalAveragePooling1D(),
                               keras.layers.Dense(2)])
    ex = Explainer(model)
    model.layers[-1].kernel.assign(np.full((3, 2), 3e38, np.float32))
    model.layers[0].embeddings.assign(np.full((10, 3), 3e38, np.float32))
    with pytest.raises(ValueError, match="non-finite logits"):
        ex.explain([[1, 2]], method="sa")


def test_mixed_precision_computes_in_float32():
    model = _build("mixed_float16", lambda: [keras.Input((None,), dtype="int32"),
                                     keras.layers.Embedding(10, 4, mask_zero=True),
                                     keras.layers.LSTM(3), keras.layers.Dense(2)])
    ex = Explainer(model)
    assert ex.chain.compute_dtype == "float32"
    for method in ("sa", "integrated_gradients", "occlusion"):
        e = ex.explain([[1, 2, 3, 0]], method=method, **({"steps": 4} if method[0] == "i" else {}))
        assert e.relevance.dtype == np.float32 and e.logits.dtype == np.float32
        assert np.isfinite(e.relevance).all() and e.relevance[0, 3] == 0


def test_unbuilt_or_non_model():
    with pytest.raises(TypeError, match="keras.Model"):
        Explainer(object())
    with pytest.raises(ValueError, match="batch_size"):
        Explainer(keras.Sequential([keras.layers.Dense(2)]), batch_size=0)


def test_a_new_explainer_on_the_same_model_reuses_the_traced_functions(lstm_model):
    """One ModelGraph per model: a fresh Explainer (as evaluation helpers make) does not trace
    the methods again."""
    from keras_relevance.lrp import lrp_function

    first, second = Explainer(lstm_model), Explainer(lstm_model)
    assert first.chain is second.chain
    ids = np.array([[1, 2, 3, 0]])
    a = first.explain(ids, method="sa").relevance
    fn = first.chain.cached("target_gradient", lambda: pytest.fail("built twice"))
    b = second.explain(ids, method="sa").relevance
    assert second.chain.cached("target_gradient", lambda: None) is fn
    np.testing.assert_array_equal(a, b)
    assert lrp_function(first.chain) is lrp_function(second.chain)
