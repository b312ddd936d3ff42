"""Log explanations while training: ExplanationLogger beside keras.callbacks.TensorBoard.

    python examples/train_with_callback.py [--logdir runs/example]
    tensorboard --logdir runs/example --samples_per_plugin keras_relevance=0

Open the "keras_relevance" dashboard: one heatmap per method for every sentence below, for the
predicted and the true class, at every epoch; deletion curves on the training sentences.
"""

import argparse

import keras
import numpy as np

from keras_relevance import ExplanationLogger, Vocabulary

TRAIN = [
    ("a good film with a great cast", 1), ("a witty and charming comedy", 1),
    ("superb acting and a smart script", 1), ("funny , warm and moving", 1),
    ("a bad film with a weak cast", 0), ("a dull and boring comedy", 0),
    ("awful acting and a dumb script", 0), ("silly , cold and tedious", 0),
]  # fmt: skip
WATCH = ["a good film but a dumb script", "not funny , just dull", "a warm and witty cast"]

parser = argparse.ArgumentParser()
parser.add_argument("--logdir", default="runs/example")
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()

vocab = Vocabulary.from_texts([text for text, _ in TRAIN] + WATCH)
x = vocab.encode([text for text, _ in TRAIN])
y = np.array([label for _, label in TRAIN])

model = keras.Sequential([
    keras.Input((None,), dtype="int32"),
    keras.layers.Embedding(len(vocab), 16, mask_zero=True),
    keras.layers.Bidirectional(keras.layers.LSTM(8)),
    keras.layers.Dense(2),
])  # fmt: skip
model.compile(
    "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
)

logger = ExplanationLogger(
    args.logdir,
    WATCH,  # texts: tokenized with the vocabulary, character offsets kept
    methods=("lrp", "sa", "reat"),
    vocabulary=vocab,
    labels=[1, 0, 1],  # enables the "true class" target next to the predicted one
    class_names=["negative", "positive"],
    every_n_epochs=2,
    deletion_data=(x, y),
)
model.fit(
    x, y, epochs=args.epochs, verbose=0,
    callbacks=[keras.callbacks.TensorBoard(args.logdir), logger],
)  # fmt: skip
print(f"logged epochs {logger.logged_epochs} to {logger.run_dir}")
print(f"tensorboard --logdir {args.logdir} --samples_per_plugin keras_relevance=0")
