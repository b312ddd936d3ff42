"""Quick start: train a tiny bi-LSTM, explain one sentence with LRP, print a terminal heatmap."""

import keras
import numpy as np

from keras_relevance import Explainer, Vocabulary
from keras_relevance.render import to_terminal

texts = [
    "a good film",
    "a great , fun movie",
    "good acting",
    "a bad film",
    "a dull , boring movie",
    "bad acting",
]
labels = np.array([1, 1, 1, 0, 0, 0])
vocab = Vocabulary.from_texts(texts)
model = keras.Sequential([
    keras.Input((None,), dtype="int32"),
    keras.layers.Embedding(len(vocab), 16, mask_zero=True),
    keras.layers.Bidirectional(keras.layers.LSTM(8)),
    keras.layers.Dense(2),
])  # fmt: skip
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(vocab.encode(texts), labels, epochs=60, verbose=0)

tokens = vocab.tokenize(["a good but boring film"])[0].tokens
explanation = Explainer(model).explain(vocab.encode([tokens]), method="lrp")  # predicted class
print(f"class {explanation.target[0]}:", to_terminal(tokens, explanation.relevance[0]))
