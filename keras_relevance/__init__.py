"""keras-relevance: explainable LSTM/GRU/CNN text classifiers for Keras 3."""

# First: for the `keras-relevance` command only, TensorFlow loads without its start-up log lines.
from keras_relevance import (
    _quiet,  # noqa: F401  (side effect: _quiet.before_tensorflow())
    rules,
)
from keras_relevance.batch import TextBatch, to_batch
from keras_relevance.callbacks import ExplanationLogger, ExplanationWarning
from keras_relevance.capabilities import register_rule
from keras_relevance.corpus import CorpusWarning, explain_corpus, read_explanations
from keras_relevance.explainer import (
    METHODS,
    ExampleExplanation,
    Explainer,
    Explanation,
    register_method,
)
from keras_relevance.graph import MethodResult, ModelGraph
from keras_relevance.layers import (
    ExplainableGRU,
    ExplainableLSTM,
    bidirectional_call_with_gates,
    check_explainable,
    explainable_twin,
    make_explainable,
)
from keras_relevance.render import Heatmap
from keras_relevance.text import Tokenized, Vocabulary, tokenize

__version__ = "0.1.0"

__all__ = [
    "CorpusWarning",
    "explain_corpus",
    "read_explanations",
    "ExplanationLogger",
    "ExplanationWarning",
    "Heatmap",
    "ExplainableGRU",
    "ExplainableLSTM",
    "bidirectional_call_with_gates",
    "check_explainable",
    "explainable_twin",
    "make_explainable",
    "METHODS",
    "ExampleExplanation",
    "Explainer",
    "Explanation",
    "register_method",
    "register_rule",
    "TextBatch",
    "to_batch",
    "rules",
    "MethodResult",
    "ModelGraph",
    "Tokenized",
    "Vocabulary",
    "__version__",
    "tokenize",
]
