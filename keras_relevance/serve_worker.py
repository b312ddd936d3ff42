"""The dashboard's explain worker: a separate process that loads kept models and explains text.

    python -m keras_relevance.serve_worker --root LOGDIR

TensorBoard's process never imports TensorFlow: the plugin (`keras_relevance_tb.explain`) starts
this module as a child and talks to it in JSON lines over its stdin / stdout. One request::

    {"id": 1, "model": "<path>", "vocab": "<path>" | null, "max_len": null,
     "text": "a gorgeous film", "methods": ["lrp", "sa"]}

and its answer::

    {"id": 1, "tokens": ["a", "gorgeous", "film"], "relevance": {"lrp": [...], "sa": [...]},
     "logits": [-1.2, 1.9], "target": 1, "unknown": ["gorgeous"]}

or ``{"id": 1, "error": "<message>"}``. Models and vocabularies are loaded only from inside
`--root` (the TensorBoard log directory) and cached per path and modification time. The target is
the predicted class (`Explainer.explain(..., target=None)`), the same for every method.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from keras_relevance import _quiet

_CACHE: dict[str, tuple[float, object]] = {}


def _inside(path: str, root: str) -> str:
    real, base = os.path.realpath(path), os.path.realpath(root)
    if not real.startswith(base.rstrip(os.sep) + os.sep):
        raise ValueError(f"refusing to load {path!r}: it is not inside the log directory")
    if not os.path.isfile(real):
        raise ValueError(f"model file not found: {os.path.basename(path)}")
    return real


def _cached(path: str, load):
    mtime = os.path.getmtime(path)
    hit = _CACHE.get(path)
    if hit is None or hit[0] != mtime:
        hit = (mtime, load(path))
        _CACHE[path] = hit
    return hit[1]


def _load_model(path: str):
    import keras

    import keras_relevance  # noqa: F401  (registers the Explainable layers)
    from keras_relevance.explainer import Explainer

    return Explainer(keras.models.load_model(path, compile=False))


def _finite(values) -> list[float | None]:
    return [float(v) if v == v and abs(v) != float("inf") else None for v in values.tolist()]


def answer(request: dict, root: str) -> dict:
    """The answer to one request (see the module docstring); raises for bad requests."""
    import numpy as np

    from keras_relevance.text import OOV_ID, Vocabulary

    explainer = _cached(_inside(request["model"], root), _load_model)
    vocab_path = request.get("vocab")
    if not vocab_path:
        raise ValueError("the run kept no vocabulary: the model cannot read text")
    vocab = _cached(_inside(vocab_path, root), Vocabulary.load)
    text = str(request["text"])
    if not text.strip():
        raise ValueError("the text is empty")
    (tokenized,) = vocab.tokenize([text])
    tokens = list(tokenized.tokens)
    max_len = request.get("max_len")
    if max_len:
        tokens = tokens[: int(max_len)]
    if not tokens:
        raise ValueError("the text has no tokens")
    ids = vocab.encode([tokens], max_len=max_len)
    relevance, logits, target = {}, None, None
    for method in request["methods"]:
        explanation = explainer.explain(ids, method=method)
        relevance[method] = _finite(np.asarray(explanation.relevance)[0, : len(tokens)])
        logits = _finite(np.asarray(explanation.logits)[0])
        target = int(np.asarray(explanation.target)[0])
    unknown = [t for t, i in zip(tokens, ids[0], strict=False) if int(i) == OOV_ID]
    return {"tokens": tokens, "relevance": relevance, "logits": logits, "target": target,
            "unknown": unknown}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the log directory (models must be inside)")
    args = parser.parse_args(argv)
    _quiet.quiet_tensorflow()
    out = sys.stdout
    for line in sys.stdin:
        try:
            request = json.loads(line)
            rid = request.get("id")
        except ValueError as error:
            reply = {"id": None, "error": f"bad request: {error}"}
        else:
            try:
                reply = {"id": rid, **answer(request, args.root)}
            except Exception as error:  # one line back, the worker goes on
                reply = {"id": rid, "error": f"{type(error).__name__}: {error}"}
        out.write(json.dumps(reply, allow_nan=False) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
