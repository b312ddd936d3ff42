"""The P4 benchmark's PyTorch twin: same logits, gradients, IG and occlusion as ours (tiny model).

Skipped when torch or captum are not installed (the `bench` extra; not in CI).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `benchmarks` lives beside the package, not inside it
    sys.path.insert(0, str(REPO))

from benchmarks import bench_captum as bc  # noqa: E402
from keras_relevance import Explainer  # noqa: E402

VOCAB, DIM, UNITS, CLASSES, LENGTH, BATCH = 50, 6, 5, 3, 7, 4


@pytest.fixture(scope="module")
def twins():
    keras_model = bc.make_keras_model(VOCAB, DIM, UNITS, CLASSES, seed=3)
    torch_model = bc.make_torch_model(VOCAB, DIM, UNITS, CLASSES)
    bc.copy_weights(keras_model, torch_model)
    ids = bc.make_batch(BATCH, LENGTH, VOCAB, seed=3)
    return keras_model, torch_model, ids


def test_logits_and_gradients_match(twins):
    keras_model, torch_model, ids = twins
    ours = Explainer(keras_model).explain(ids, method="gradient")
    logits, grad = bc.torch_logits_and_grad(torch_model, ids, ours.target)
    np.testing.assert_allclose(ours.logits, np.asarray(keras_model(ids)), atol=1e-6)
    np.testing.assert_allclose(ours.logits, logits, atol=1e-5)
    np.testing.assert_allclose(ours.per_dim, grad, atol=1e-5)
    assert np.abs(grad).max() > 1e-3  # not a vacuous comparison


def test_ig_and_occlusion_match_captum(twins):
    keras_model, torch_model, ids = twins
    ex = Explainer(keras_model)
    target = ex.explain(ids, method="gradient").target
    ig_pt, occ_pt = bc.captum_attributions(torch_model, ids, target, steps=20, ibs=None, ppe=3)
    ig = ex.explain(ids, method="integrated_gradients", target=target, steps=20)
    occ = ex.explain(ids, method="occlusion", target=target)
    np.testing.assert_allclose(ig.relevance, ig_pt, atol=1e-5)
    np.testing.assert_allclose(occ.relevance, occ_pt, atol=1e-5)


def test_check_parity_flags_a_wrong_copy(twins):
    """Swapping the two directions' weights must break parity (the check can fail)."""
    keras_model, _, ids = twins
    wrong = bc.make_torch_model(VOCAB, DIM, UNITS, CLASSES)
    bc.copy_weights(keras_model, wrong)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
            fwd, bwd = getattr(wrong.lstm, name), getattr(wrong.lstm, name + "_reverse")
            tmp = fwd.clone()
            fwd.copy_(bwd)
            bwd.copy_(tmp)
    rows, _ = bc.check_parity(keras_model, wrong, ids, steps=5, ibs=None, ppe=1)
    gating = {name: ok for name, _, _, ok, is_gating in rows if is_gating}
    assert gating and not all(gating.values())
