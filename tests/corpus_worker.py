"""Subprocess entry of tests/test_corpus.py: one explain_corpus run in a fresh process.

    python tests/corpus_worker.py MODEL.keras VOCAB.json CORPUS.txt OUT MODE [SLEEP]

MODE: "plain" (no strategy), "mirrored" (MirroredStrategy over 2 logical CPU devices, set up
before TensorFlow initializes) or "worker" (MultiWorkerMirroredStrategy; TF_CONFIG from the
environment). SLEEP: seconds the input pipeline waits per document (to make a run slow enough to
be killed in the middle).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv):
    model_path, vocab_path, corpus, out, mode = argv[:5]
    sleep = float(argv[5]) if len(argv) > 5 else 0.0
    import tensorflow as tf

    strategy = None
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    elif mode == "worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras

    import keras_relevance as kr

    model = keras.models.load_model(model_path, compile=False)
    vocab = kr.Vocabulary.load(vocab_path)
    with open(corpus, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    labels = [i % 2 for i in range(len(lines))]
    data = tf.data.Dataset.from_tensor_slices((lines, labels))
    if sleep:
        def slow(x, y):
            time.sleep(sleep)
            return x, y

        data = data.map(
            lambda x, y: tf.py_function(slow, [x, y], [tf.string, tf.int32]),
        ).map(lambda x, y: (tf.ensure_shape(x, []), tf.ensure_shape(y, [])))
    kr.explain_corpus(
        model, data, methods=("lrp", "gradient"), out=out, batch_size=16, shard_size=40,
        strategy=strategy, vocabulary=vocab, quiet=True, deletion_steps=2,
    )
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
