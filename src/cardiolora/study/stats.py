"""Statistics of a study: paired tests between models, correlations, Pareto frontiers, transfer.

scipy does the tests; Holm-Bonferroni and the Pareto frontier are a few lines each and live here
(scipy has no Holm step-down, and statsmodels would be a large dependency for it).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


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
    """Two models compared on the same pairs: the difference of a metric (A minus B), its paired
    permutation p-value and the Holm-adjusted one."""

    a: str
    b: str
    metric: str
    difference: float
    p: float
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm < 0.05


def pairwise_paired(
    cosines: dict[str, np.ndarray], categories: Sequence[str], metrics: Sequence[str] = ("separation", "auc")
) -> list[PairwiseTest]:
    """Every two models' separation and ROC-AUC on the same pairs, compared by a paired permutation
    test (each pair's two cosines swapped between the models at random;
    :func:`cardiolora.evaluation.paired.paired_permutation`), Holm-Bonferroni over all comparisons.

    The study compared its models with unpaired Welch t-tests, as if each model had been evaluated
    on other pairs; here every model scores the same pairs, and pairing removes the pairs' own
    difficulty from the comparison."""
    from cardiolora.evaluation.paired import paired_permutation

    names = list(cosines)
    raw = []
    for metric in metrics:
        for a, b in itertools.combinations(names, 2):
            difference, p = paired_permutation(categories, cosines[a], cosines[b], metric=metric)
            raw.append((a, b, metric, difference, p))
    adjusted = holm_bonferroni([r[4] for r in raw])
    return [
        PairwiseTest(a, b, metric, d, p, p_holm) for (a, b, metric, d, p), p_holm in zip(raw, adjusted, strict=True)
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
