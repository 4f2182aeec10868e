"""Evaluation: evaluation sets, the separation score with honest statistics, rank and negation metrics."""

from cardiolora.evaluation.evalset import (
    CATEGORIES,
    EvalPair,
    EvalSet,
    NegationTest,
    bundled_eval_sets,
    default_eval_sets,
    load_eval_set,
)
from cardiolora.evaluation.evaluate import (
    DEFAULT_TARGET,
    EvaluationReport,
    compute_metrics,
    cosines_of_pairs,
    evaluate_embedder,
    pair_cosines,
)
from cardiolora.evaluation.retention import (
    DEFAULT_TOLERANCE,
    RetentionRow,
    retention_table,
    retention_warnings,
)
from cardiolora.evaluation.metrics import (
    category_stats,
    negation_scores,
    roc_auc,
    separation,
    separation_ci,
    tier,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_TARGET",
    "DEFAULT_TOLERANCE",
    "RetentionRow",
    "retention_table",
    "retention_warnings",
    "EvalPair",
    "EvalSet",
    "EvaluationReport",
    "NegationTest",
    "bundled_eval_sets",
    "default_eval_sets",
    "category_stats",
    "compute_metrics",
    "cosines_of_pairs",
    "evaluate_embedder",
    "load_eval_set",
    "negation_scores",
    "pair_cosines",
    "roc_auc",
    "separation",
    "separation_ci",
    "tier",
]
