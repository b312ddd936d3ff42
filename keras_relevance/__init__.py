"""keras-relevance: explainable LSTM/GRU/CNN text classifiers for Keras 3."""

from keras_relevance.chain import MethodResult, ModelChain

__version__ = "0.1.0"

__all__ = [
    "MethodResult",
    "ModelChain",
    "__version__",
]
