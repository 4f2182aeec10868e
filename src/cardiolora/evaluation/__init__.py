"""Evaluation: evaluation sets, the separation score with honest statistics, rank and negation
metrics, and retrieval (Recall@k, MRR, nDCG@k) with an evaluation set as a retrieval task."""

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
from cardiolora.evaluation.metrics import (
    category_stats,
    negation_scores,
    roc_auc,
    separation,
    separation_ci,
    tier,
)
from cardiolora.evaluation.retention import (
    DEFAULT_TOLERANCE,
    RetentionRow,
    retention_table,
    retention_warnings,
)
from cardiolora.evaluation.retrieval import (
    RetrievalResult,
    eval_set_retrieval,
    evaluate_eval_set_retrieval,
    evaluate_rankings,
    evaluate_vectors,
    rank_by_cosine,
    read_queries,
    retrieval_metrics,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_TARGET",
    "DEFAULT_TOLERANCE",
    "RetentionRow",
    "RetrievalResult",
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
    "eval_set_retrieval",
    "evaluate_embedder",
    "evaluate_eval_set_retrieval",
    "evaluate_rankings",
    "evaluate_vectors",
    "load_eval_set",
    "negation_scores",
    "pair_cosines",
    "rank_by_cosine",
    "read_queries",
    "retrieval_metrics",
    "roc_auc",
    "separation",
    "separation_ci",
    "tier",
]
