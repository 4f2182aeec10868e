"""Statistics of a study: pairwise tests, effect sizes, correlations, Pareto frontiers, transfer.

scipy does the tests; Holm-Bonferroni and the Pareto frontier are a few lines each and live here
(scipy has no Holm step-down, and statsmodels would be a large dependency for it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def separation_contributions(cosines: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Per-pair terms whose mean is the separation score.

    A similar pair contributes ``cos - mean(different)``, a different pair ``mean(similar) - cos``;
    their pooled mean is ``mean(similar) - mean(different)``. Two models' samples of these terms can
    then be compared with a t-test (the study's Welch tests), pair by pair rather than from summary
    statistics.
    """
    cosines = np.asarray(cosines, dtype=np.float64)
    labels = np.asarray(categories)
    similar, different = cosines[labels == "similar"], cosines[labels == "different"]
    if similar.size == 0 or different.size == 0:
        return np.zeros(0)
    return np.concatenate([similar - different.mean(), similar.mean() - different])


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Difference of means over the pooled standard deviation."""
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2))
    return float((np.mean(a) - np.mean(b)) / pooled) if pooled > 0 else float("nan")


def holm_bonferroni(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (monotone, capped at 1), in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


@dataclass
class PairwiseTest:
    a: str
    b: str
    mean_difference: float
    t: float
    p: float
    p_holm: float
    cohens_d: float

    @property
    def significant(self) -> bool:
        return self.p_holm < 0.05


def pairwise_welch(samples: dict[str, np.ndarray]) -> list[PairwiseTest]:
    """Welch t-tests between every two models' separation contributions, Holm-Bonferroni adjusted."""
    names = [n for n, s in samples.items() if len(s) >= 2]
    raw = []
    for a, b in itertools.combinations(names, 2):
        t, p = stats.ttest_ind(samples[a], samples[b], equal_var=False)
        raw.append((a, b, float(np.mean(samples[a]) - np.mean(samples[b])), float(t), float(p)))
    adjusted = holm_bonferroni([r[4] for r in raw])
    return [
        PairwiseTest(a, b, diff, t, p, p_holm, cohens_d(samples[a], samples[b]))
        for (a, b, diff, t, p), p_holm in zip(raw, adjusted, strict=True)
    ]


@dataclass
class Correlation:
    r: float | None
    p: float | None
    n: int
    note: str = ""


def pearson(x: Sequence[float], y: Sequence[float]) -> Correlation:
    """Pearson r, or ``None`` with the reason when it is undefined (fewer than 3 points, a constant)."""
    pairs = [(float(a), float(b)) for a, b in zip(x, y, strict=False) if a is not None and b is not None]
    if len(pairs) < 3:
        return Correlation(None, None, len(pairs), "needs at least 3 models")
    xs, ys = np.array(pairs).T
    if np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return Correlation(None, None, len(pairs), "one variable is constant")
    result = stats.pearsonr(xs, ys)
    return Correlation(float(result.statistic), float(result.pvalue), len(pairs))


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names not dominated on (x, y), both to be maximized (negate a cost to minimize it), sorted by x."""
    front = []
    for name, (x, y) in points.items():
        dominated = any(
            (ox >= x and oy >= y) and (ox > x or oy > y) for other, (ox, oy) in points.items() if other != name
        )
        if not dominated:
            front.append(name)
    return sorted(front, key=lambda n: points[n][0])


def retention(transfer_separation: float | None, headline_separation: float | None) -> float | None:
    """Adapted separation on another specialty divided by the headline (cardiology) separation."""
    if transfer_separation is None or not headline_separation or headline_separation <= 0:
        return None
    return transfer_separation / headline_separation
