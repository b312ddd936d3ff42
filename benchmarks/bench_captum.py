"""P4: keras-relevance vs Captum on the same BiLSTM, weights copied into PyTorch.

Run: `python -m benchmarks bench_captum [--quick]` (needs the `bench` extra: `pip install
torch==2.13.0 captum`; a CPU build of torch is enough and is what this measures).

Models: Embedding(V, E, mask_zero) → Bidirectional(LSTM(H)) → Dense(C) in Keras, and the same in
PyTorch: nn.Embedding → nn.LSTM(bidirectional=True, batch_first=True) → nn.Linear on
[final forward state, final backward state] (what Keras' Bidirectional(LSTM) with
return_sequences=False concatenates). Weights are copied: both use the gate order i, f, g(c), o;
kernels are transposed; Keras' single bias goes to `bias_ih`, `bias_hh` is 0. Embedding row 0
(Keras' masked padding id, never used here) is 0 in PyTorch so that id 0 is the all-zero
baseline for Captum's LayerIntegratedGradients. Weights and biases are random but not tiny
(embeddings N(0, 0.5²), biases N(0, 0.1²)), so the check exercises the non-linear regime and a
misplaced bias would show.

1. Parity (aborts the benchmark on failure): logits and ∂f_c/∂x (target logit w.r.t. the
   embeddings) from our `Explainer(..., method="gradient")` vs PyTorch autograd, float32, on the
   benchmark batch (all sequences full length, no padding: Captum has no mask). Also reported,
   not gating: our IG vs Captum LayerIntegratedGradients (method="riemann_right", the same
   right Riemann sum over k/50) and our occlusion vs Captum Occlusion, word level.
2. Timing, interleaved (rotating round-robin, warm-up, median and IQR; ratio = median of the
   per-round ratios Captum / ours, > 1 means we are faster), on the same batch:
   - our `explain(ids, "lrp")` vs Captum `Saliency` (also our "gradient", the same quantity);
   - our `integrated_gradients` (steps=50) vs Captum `LayerIntegratedGradients` on the embedding
     layer (n_steps=50, internal_batch_size = the same number of sequences per pass as ours,
     about 4M input floats; and Captum's default, all 50·B at once);
   - our `occlusion` vs Captum `Occlusion` (window = one token × all E dims, stride one token,
     baseline 0), perturbations_per_eval = as many sequences per pass as ours, and Captum's
     default of 1.
   Ours is the user-facing `Explainer.explain` (it also runs a forward pass for the logits and
   checks inputs); Captum is given embeddings already on the graph, plus the lookup.
Torch and TensorFlow get the same thread count (`--threads`, default: all usable cores). On a
busy machine use `--threads 1`: PyTorch's OpenMP threads wait for each other at every op, and when
another process holds a core those barriers stall (measured under load 8 on 2 cores: the torch
BiLSTM forward took 0.2 s with 2 threads vs 0.025 s with 1), which would flatter us.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks._timing import (  # noqa: E402
    fmt_ratio,
    fmt_timing,
    interleaved,
    machine_markdown,
    markdown_table,
    paired_ratio,
    set_threads,
)

CONFIGS = {
    # name: (E, H, T, B)
    "BiLSTM E=64 H=128": (64, 128, 40, 64),
    "BiLSTM E=H=60 (SST)": (60, 60, 40, 64),
}
VOCAB, CLASSES, STEPS = 20000, 5, 50
TOL = 1e-5


# ----------------------------------------------------------------------------------- models
def make_keras_model(vocab, dim, units, classes, seed=0):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocab, dim, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(units)),
            keras.layers.Dense(classes),
        ]
    )
    rng = np.random.default_rng(seed)
    model.layers[0].embeddings.assign(rng.normal(0, 0.5, (vocab, dim)).astype("float32"))
    for w in model.weights:
        if "bias" in w.path:
            w.assign(tf.constant(rng.normal(0, 0.1, w.shape).astype("float32")))
    return model


def make_torch_model(vocab, dim, units, classes):
    import torch
    from torch import nn

    class TorchBiLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, dim)
            self.lstm = nn.LSTM(dim, units, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * units, classes)

        def forward_emb(self, x):
            _, (h_n, _) = self.lstm(x)  # h_n: (2, batch, units) = [forward final, backward final]
            return self.fc(torch.cat([h_n[0], h_n[1]], dim=-1))

        def forward(self, ids):
            return self.forward_emb(self.emb(ids))

    return TorchBiLSTM().eval()


def copy_weights(keras_model, torch_model) -> None:
    """Keras BiLSTM weights → the PyTorch twin (transpose kernels, bias into bias_ih)."""
    import torch

    emb, bidi, dense = keras_model.layers

    def value(v):
        return np.asarray(v.numpy(), dtype=np.float32)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    with torch.no_grad():
        table = value(emb.embeddings).copy()
        table[0] = 0.0  # padding id: masked in Keras, the zero baseline for Captum
        torch_model.emb.weight.copy_(t(table))
        for layer, suffix in ((bidi.forward_layer, ""), (bidi.backward_layer, "_reverse")):
            cell = layer.cell
            lstm = torch_model.lstm
            getattr(lstm, f"weight_ih_l0{suffix}").copy_(t(value(cell.kernel).T))
            getattr(lstm, f"weight_hh_l0{suffix}").copy_(t(value(cell.recurrent_kernel).T))
            getattr(lstm, f"bias_ih_l0{suffix}").copy_(t(value(cell.bias)))
            getattr(lstm, f"bias_hh_l0{suffix}").zero_()
        torch_model.fc.weight.copy_(t(value(dense.kernel).T))
        torch_model.fc.bias.copy_(t(value(dense.bias)))


def make_batch(batch, length, vocab, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, vocab, size=(batch, length)).astype("int32")  # no padding


# ----------------------------------------------------------------------------------- parity
def torch_logits_and_grad(torch_model, ids, target):
    import torch

    ids_t = torch.from_numpy(ids.astype(np.int64))
    emb = torch_model.emb(ids_t).detach().requires_grad_(True)
    logits = torch_model.forward_emb(emb)
    logits.gather(1, torch.from_numpy(target.astype(np.int64))[:, None]).sum().backward()
    return logits.detach().numpy(), emb.grad.numpy()


def captum_attributions(torch_model, ids, target, steps, ibs, ppe):
    """Word-level Captum IG (riemann_right) and occlusion, for the agreement check."""
    import torch
    from captum.attr import LayerIntegratedGradients, Occlusion

    ids_t = torch.from_numpy(ids.astype(np.int64))
    tgt = torch.from_numpy(target.astype(np.int64))
    dim = torch_model.emb.embedding_dim
    lig = LayerIntegratedGradients(torch_model, torch_model.emb)
    ig = lig.attribute(
        ids_t, baselines=torch.zeros_like(ids_t), target=tgt, n_steps=steps,
        method="riemann_right", internal_batch_size=ibs,
    )
    occ = Occlusion(torch_model.forward_emb).attribute(
        torch_model.emb(ids_t).detach(), sliding_window_shapes=(1, dim), strides=(1, dim),
        baselines=0.0, target=tgt, perturbations_per_eval=ppe,
    )
    return ig.sum(-1).detach().numpy(), occ[:, :, 0].detach().numpy()


def check_parity(keras_model, torch_model, ids, steps, ibs, ppe):
    """Rows of (quantity, max |ours − torch|, max |torch|, ok?); gating rows first."""
    from keras_relevance import Explainer

    ex = Explainer(keras_model)
    grad_ours = ex.explain(ids, method="gradient")
    target = grad_ours.target
    logits_pt, grad_pt = torch_logits_and_grad(torch_model, ids, target)
    rows = []
    for name, ours, ref, gating in (
        ("logits", grad_ours.logits, logits_pt, True),
        ("∂f_c/∂x (embeddings)", grad_ours.per_dim, grad_pt, True),
    ):
        diff = float(np.max(np.abs(ours - ref)))
        scale = float(np.max(np.abs(ref)))
        rows.append((name, diff, scale, diff <= TOL * max(1.0, scale), gating))
    ig_pt, occ_pt = captum_attributions(torch_model, ids, target, steps, ibs, ppe)
    ig_ours = ex.explain(ids, method="integrated_gradients", target=target, steps=steps)
    occ_ours = ex.explain(ids, method="occlusion", target=target)
    for name, ours, ref in (
        (f"IG({steps}) word relevance vs LayerIntegratedGradients", ig_ours.relevance, ig_pt),
        ("occlusion word relevance vs Occlusion", occ_ours.relevance, occ_pt),
    ):
        diff = float(np.max(np.abs(ours - ref)))
        scale = float(np.max(np.abs(ref)))
        rows.append((name, diff, scale, diff <= 1e-4 * max(1.0, scale), False))
    return rows, target


# ----------------------------------------------------------------------------------- timing
def run_config(name, dim, units, length, batch, repeats, warmup):
    import tensorflow as tf
    import torch
    from captum.attr import LayerIntegratedGradients, Occlusion, Saliency

    from keras_relevance import Explainer

    keras_model = make_keras_model(VOCAB, dim, units, CLASSES)
    torch_model = make_torch_model(VOCAB, dim, units, CLASSES)
    copy_weights(keras_model, torch_model)
    ids = make_batch(batch, length, VOCAB)

    # same sequences per pass as our defaults (gradients.py / perturbation.py: ~4M input floats)
    per_pass = max(batch, min(STEPS * batch, (1 << 22) // (length * dim)))
    ibs = max(1, per_pass // batch) * batch
    ppe = max(1, max(64, (1 << 22) // (length * dim)) // batch)

    parity, target = check_parity(keras_model, torch_model, ids, STEPS, ibs, ppe)
    print(f"\n### {name}: T={length}, B={batch}, {CLASSES} classes\n")
    print("Parity (float32; max abs difference ours − PyTorch/Captum):\n")
    print(
        markdown_table(
            ["quantity", "max abs diff", "max abs value", "result"],
            [
                (q, f"{d:.2e}", f"{s:.3g}",
                 ("ok" if ok else "FAIL") + ("" if gating else " (reported, not gating)"))
                for q, d, s, ok, gating in parity
            ],
            "lrrl",
        )
    )
    failed = [q for q, _, _, ok, gating in parity if gating and not ok]
    if failed:
        print(f"\nPARITY FAILED for {failed} (tolerance {TOL:g}); not timing this model.")
        return False

    ex = Explainer(keras_model)
    ids_t = torch.from_numpy(ids.astype(np.int64))
    tgt_t = torch.from_numpy(target.astype(np.int64))
    zeros_t = torch.zeros_like(ids_t)
    saliency = Saliency(torch_model.forward_emb)
    lig = LayerIntegratedGradients(torch_model, torch_model.emb)
    occlusion = Occlusion(torch_model.forward_emb)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def keras_forward(x):
        return keras_model(x, training=False)

    def torch_forward():
        with torch.no_grad():
            return torch_model(ids_t)

    def emb_t():
        return torch_model.emb(ids_t).detach()

    def lig_run(internal_batch_size):
        return lig.attribute(
            ids_t, baselines=zeros_t, target=tgt_t, n_steps=STEPS,
            method="riemann_right", internal_batch_size=internal_batch_size,
        )

    def occ_run(per_eval):
        return occlusion.attribute(
            emb_t(), sliding_window_shapes=(1, dim), strides=(1, dim), baselines=0.0,
            target=tgt_t, perturbations_per_eval=per_eval,
        )

    fns = {
        "keras forward": lambda: keras_forward(ids).numpy(),
        "torch forward": torch_forward,
        "ours lrp": lambda: ex.explain(ids, method="lrp", target=target),
        "ours gradient": lambda: ex.explain(ids, method="gradient", target=target),
        "captum Saliency": lambda: saliency.attribute(emb_t().requires_grad_(), target=tgt_t),
        "ours IG": lambda: ex.explain(
            ids, method="integrated_gradients", target=target, steps=STEPS
        ),
        "captum LIG (tuned)": lambda: lig_run(ibs),
        "captum LIG (default)": lambda: lig_run(None),
        "ours occlusion": lambda: ex.explain(ids, method="occlusion", target=target),
        "captum Occlusion (tuned)": lambda: occ_run(ppe),
        "captum Occlusion (default)": lambda: occ_run(1),
    }
    times = interleaved(fns, repeats=repeats, warmup=warmup, number=None, min_sample_s=0.2)

    pairs = [
        ("forward pass (reference)", "keras forward", "torch forward", ""),
        ("LRP vs Saliency", "ours lrp", "captum Saliency", ""),
        ("gradient vs Saliency", "ours gradient", "captum Saliency", ""),
        (f"IG({STEPS}) vs LayerIntegratedGradients", "ours IG", "captum LIG (tuned)",
         f"internal_batch_size={ibs}"),
        (f"IG({STEPS}) vs LayerIntegratedGradients", "ours IG", "captum LIG (default)",
         f"internal_batch_size=None ({STEPS * batch})"),
        ("occlusion vs Occlusion", "ours occlusion", "captum Occlusion (tuned)",
         f"perturbations_per_eval={ppe}"),
        ("occlusion vs Occlusion", "ours occlusion", "captum Occlusion (default)",
         "perturbations_per_eval=1"),
    ]
    rows = []
    for what, ours, theirs, setting in pairs:
        rows.append((
            what,
            fmt_timing(times[ours]),
            fmt_timing(times[theirs]) + (f" ({setting})" if setting else ""),
            fmt_ratio(paired_ratio(times[theirs], times[ours])),
        ))
    print(f"\nTiming: median ± half IQR of {repeats} interleaved rounds after {warmup} warm-up "
          "call(s); ratio = per-round Captum / ours (> 1: ours faster), median (IQR):\n")
    print(markdown_table(["comparison", "ours", "Captum / PyTorch", "Captum / ours"], rows, "lrrr"))
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one model, 2 rounds")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None,
                        help="TF and torch threads (default: all usable cores)")
    parser.add_argument("--config", choices=list(CONFIGS), action="append",
                        help="model(s) to run (default: all)")
    args = parser.parse_args(argv)
    try:
        import captum  # noqa: F401
        import torch  # noqa: F401
    except ImportError as err:
        print(f"bench_captum skipped: {err.name} is not installed "
              "(pip install torch==2.13.0 captum, the `bench` extra)")
        return 0
    threads = set_threads(args.threads)
    import torch

    configs = args.config or list(CONFIGS)
    repeats = args.repeats
    if args.quick:
        configs, repeats = configs[:1] if not args.config else configs, 2
    print("# P4: keras-relevance vs Captum (BiLSTM, weights copied)\n")
    print(machine_markdown({
        "threads (TF intra/inter, torch)": f"{threads}, {torch.get_num_threads()}",
    }))
    try:
        busy = os.getloadavg()[0] > 0.5 * os.cpu_count()
    except (OSError, TypeError):
        busy = False
    if busy and threads > 1:
        print("\nNote: the machine is busy and threads > 1: PyTorch's OpenMP barriers stall under "
              "contention, so Captum's times are inflated; rerun with --threads 1 or when quiet.")
    ok = True
    for name in configs:
        ok &= run_config(name, *CONFIGS[name], repeats=repeats, warmup=args.warmup)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
