"""Measuring explanations: faithfulness metrics that run the model, and (re-exported from
`keras_relevance.analysis`) corpus analyses that only need relevance arrays.

Model-based metrics take relevance as a NumPy array (batch, time), an `Explanation`, an
explanation function `explain_fn(ids, target) -> (batch, time)` (Captum style) or, for
convenience, a method name computed with `Explainer(model).explain(ids, method, target)`:

- `deletion_curves` / `deletion_curve` (Arras et al. 2017, Fig. 3), `insertion_curves`
  (xplique), `aopc` (Samek et al. 2017; `kind="insertion"` too);
- `eraser_scores` (DeYoung et al. 2020; `deletion="remove" | "zero"`), `reat_faithfulness`
  (Du et al. 2019, Eq. 23);
- `taucorr_loo`, `leave_one_out`, `plausibility` (ferret);
- `randomization_test` (Adebayo et al. 2018);
- `compare`: methods × metrics in one table with bootstrap intervals and a plot.

Every forward pass goes through one `tf.function` cached on the model view
(`perturbation.masked_logits_fn`), so repeated calls do not trace again. Deleting a word sets
its embedding to zero and keeps the mask (`deletion="zero"`, Arras et al.) or drops it and
shifts the rest left (`deletion="remove"`, ERASER). Results are dicts of floats / lists / NumPy
arrays (`keras_relevance_tb.summary.deletion_curve` takes `result["correct"]["curves"]` as is).
"""

from keras_relevance.analysis import (
    clause_scores_from_relevance,
    document_vectors,
    knn_accuracy,
    lexicon_interpretability,
    pca,
    pos_distribution,
    position_distribution,
    top_words,
)
from keras_relevance.evaluation._scoring import deletion_ranks, random_relevance
from keras_relevance.evaluation.agreement import leave_one_out, plausibility, taucorr_loo
from keras_relevance.evaluation.compare import METRICS, ComparisonTable, compare
from keras_relevance.evaluation.deletion import (
    aopc,
    deletion_curve,
    deletion_curves,
    insertion_curves,
)
from keras_relevance.evaluation.faithfulness import (
    DEFAULT_BINS,
    eraser_scores,
    reat_faithfulness,
)
from keras_relevance.evaluation.sanity import randomization_test

__all__ = [
    "DEFAULT_BINS",
    "METRICS",
    "ComparisonTable",
    "aopc",
    "clause_scores_from_relevance",
    "compare",
    "deletion_curve",
    "deletion_curves",
    "deletion_ranks",
    "document_vectors",
    "eraser_scores",
    "insertion_curves",
    "leave_one_out",
    "lexicon_interpretability",
    "knn_accuracy",
    "pca",
    "plausibility",
    "pos_distribution",
    "position_distribution",
    "random_relevance",
    "randomization_test",
    "reat_faithfulness",
    "taucorr_loo",
    "top_words",
]
