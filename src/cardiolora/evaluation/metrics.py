"""The metrics of an evaluation: separation with a bootstrap CI, ROC-AUC, negation sensitivity.

Separation (the reference study's score) is the mean cosine of similar pairs minus the mean cosine
of different pairs. It depends on where a model puts unrelated texts, so it comes with rank measures
that do not: ROC-AUC of similar against different pairs, and the negation tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

# The study's tiers of separation.
TIER_HIGH = 0.45
TIER_MODERATE = 0.25
CLINICALLY_USEFUL = 0.3


@dataclass(frozen=True)
class CategoryStats:
    mean: float
    sd: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "sd": self.sd, "n": self.n}


def category_stats(scores: np.ndarray) -> CategoryStats:
    """Mean, sample SD (ddof=1; 0 for one score) and count of a category's cosines."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return CategoryStats(float("nan"), float("nan"), 0)
    sd = float(scores.std(ddof=1)) if scores.size > 1 else 0.0
    return CategoryStats(float(scores.mean()), sd, int(scores.size))


def separation(similar: np.ndarray, different: np.ndarray) -> float:
    return float(np.mean(similar) - np.mean(different))


def separation_ci(
    similar: np.ndarray,
    different: np.ndarray,
    *,
    n_resamples: int = 5000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap CI of the separation, resampling the pairs of each category independently.

    The study resampled from a normal fitted to its reported means and SDs; resampling the observed
    pairs keeps their real (often skewed) distribution. Percentile intervals from scipy.
    """
    similar = np.asarray(similar, dtype=np.float64)
    different = np.asarray(different, dtype=np.float64)
    if similar.size < 2 or different.size < 2:
        return float("nan"), float("nan")
    result = stats.bootstrap(
        (similar, different),
        lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def roc_auc(similar: np.ndarray, different: np.ndarray) -> float:
    """ROC-AUC of cosine as a classifier of similar (positive) vs different pairs.

    Equal to the Mann-Whitney U statistic over ``n_similar * n_different`` (ties count half): the
    probability that a random similar pair scores above a random different pair.
    """
    similar = np.asarray(similar, dtype=np.float64)
    different = np.asarray(different, dtype=np.float64)
    if similar.size == 0 or different.size == 0:
        return float("nan")
    u_statistic = stats.mannwhitneyu(similar, different, alternative="two-sided").statistic
    return float(u_statistic / (similar.size * different.size))


def negation_scores(paraphrase: np.ndarray, negation: np.ndarray) -> tuple[float, float]:
    """(gap, accuracy) over negation tests, given each test's paraphrase and negation cosine.

    gap: mean(paraphrase) - mean(negation), above 0 when negations sit further away.
    accuracy: share of tests whose paraphrase scores above its negation (ties count half).
    """
    paraphrase = np.asarray(paraphrase, dtype=np.float64)
    negation = np.asarray(negation, dtype=np.float64)
    if paraphrase.size == 0:
        return float("nan"), float("nan")
    gap = float(paraphrase.mean() - negation.mean())
    wins = (paraphrase > negation).astype(np.float64) + 0.5 * (paraphrase == negation)
    return gap, float(wins.mean())


def tier(value: float) -> str:
    """The study's tier of a separation score: high (>= 0.45), moderate (>= 0.25) or low."""
    if not np.isfinite(value):
        return "n/a"
    if value >= TIER_HIGH:
        return "high"
    if value >= TIER_MODERATE:
        return "moderate"
    return "low"
