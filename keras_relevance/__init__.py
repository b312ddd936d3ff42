"""keras-relevance: explainable LSTM/GRU/CNN text classifiers for Keras 3."""

from keras_relevance.chain import MethodResult, ModelChain
from keras_relevance.text import Tokenized, Vocabulary, tokenize

__version__ = "0.1.0"

__all__ = [
    "MethodResult",
    "ModelChain",
    "Tokenized",
    "Vocabulary",
    "__version__",
    "tokenize",
]
