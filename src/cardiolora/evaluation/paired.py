"""Paired statistics: how much one model (or adapter) changed a metric on the same pairs, with a CI.

Two evaluations of one set score the same pairs, so their difference is measured far more precisely
than two separate CIs suggest: a pair that is hard for the base model is usually hard for the
adapted one too. The bootstrap here resamples the pairs once per draw and recomputes both models'
metrics on that resample (similar and different pairs resampled separately, as in
:func:`~cardiolora.evaluation.metrics.separation_ci`).

Several adapted runs (seeds) can be given at once: the statistic is then the change averaged over
the runs, and each draw resamples the pairs for all of them together, so the interval covers the
pairs' sampling noise of the seed-averaged change.

Written by hand: scipy's ``bootstrap(paired=True)`` needs samples of one length, and a separation
or ROC-AUC difference needs the similar and the different pairs resampled apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# A change counts as harm when its paired CI lies below zero and it is worse than this: on a set of
# 40 + 40 pairs one ROC-AUC has a standard error near 0.04-0.06, so a fixed 0.01 rule flags noise,
# while a paired CI alone flags changes too small to matter.
HARM_MARGIN = 0.02


def _auc_rows(similar: np.ndarray, different: np.ndarray) -> np.ndarray:
    """ROC-AUC (ties half) of each row of ``similar`` (draws x n1) against the same row of
    ``different`` (draws x n2), by ranks: the Mann-Whitney U over n1 n2, vectorised over draws."""
    from scipy.stats import rankdata

    n1 = similar.shape[1]
    ranks = rankdata(np.concatenate([similar, different], axis=1), axis=1)
    u = ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2
    return u / (n1 * different.shape[1])


@dataclass(frozen=True)
class PairedChange:
    """``after - before`` of one metric, with its paired bootstrap CI."""

    metric: str
    before: float
    after: float
    low: float
    high: float

    @property
    def change(self) -> float:
        return self.after - self.before

    def harmed(self, margin: float = HARM_MARGIN) -> bool:
        """The CI lies below zero and the change is worse than ``-margin``."""
        return bool(self.high < 0 and self.change < -margin)

    def improved(self) -> bool:
        """The CI lies above zero."""
        return bool(self.low > 0)

    def to_dict(self) -> dict[str, float]:
        return {
            "before": self.before,
            "after": self.after,
            "change": self.change,
            "ci": [self.low, self.high],
        }


def paired_changes(
    categories: Sequence[str],
    before: Sequence[float],
    after: Sequence[float] | Sequence[Sequence[float]],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, PairedChange]:
    """Separation and ROC-AUC of ``after`` minus ``before`` on one set's similar and different pairs.

    ``before``: one cosine per pair (in the set's order, ``categories`` naming each pair's category).
    ``after``: the same, or one such row per run (seeds): the change is then averaged over runs.
    Returns ``{"separation": PairedChange, "auc": PairedChange}`` (empty without both categories).
    """
    labels = np.asarray(categories)
    before_all = np.asarray(before, dtype=np.float64)
    after_all = np.atleast_2d(np.asarray(after, dtype=np.float64))
    if after_all.shape[1] != before_all.shape[0] or labels.shape[0] != before_all.shape[0]:
        raise ValueError("categories, before and after must have one entry per pair")
    sim, dif = np.flatnonzero(labels == "similar"), np.flatnonzero(labels == "different")
    if sim.size < 2 or dif.size < 2:
        return {}
    rng = np.random.default_rng(seed)
    draw_sim = rng.integers(0, sim.size, (n_resamples, sim.size))
    draw_dif = rng.integers(0, dif.size, (n_resamples, dif.size))

    def metrics(cosines: np.ndarray, rows_sim, rows_dif) -> tuple[np.ndarray, np.ndarray]:
        s, d = cosines[sim][rows_sim], cosines[dif][rows_dif]
        return s.mean(axis=-1) - d.mean(axis=-1), _auc_rows(np.atleast_2d(s), np.atleast_2d(d))

    identity_sim, identity_dif = np.arange(sim.size)[None], np.arange(dif.size)[None]
    sep0, auc0 = metrics(before_all, identity_sim, identity_dif)
    sep_b, auc_b = metrics(before_all, draw_sim, draw_dif)
    seps, aucs, seps_b, aucs_b = [], [], [], []
    for run in after_all:
        sep1, auc1 = metrics(run, identity_sim, identity_dif)
        seps.append(sep1[0])
        aucs.append(auc1[0])
        s_b, a_b = metrics(run, draw_sim, draw_dif)
        seps_b.append(s_b)
        aucs_b.append(a_b)
    alpha = (1 - confidence) / 2
    out = {}
    for name, before_value, after_value, before_draws, after_draws in (
        ("separation", sep0[0], np.mean(seps), sep_b, np.mean(seps_b, axis=0)),
        ("auc", auc0[0], np.mean(aucs), auc_b, np.mean(aucs_b, axis=0)),
    ):
        low, high = np.quantile(after_draws - before_draws, [alpha, 1 - alpha])
        out[name] = PairedChange(name, float(before_value), float(after_value), float(low), float(high))
    return out


def paired_permutation(
    categories: Sequence[str], a: Sequence[float], b: Sequence[float], *, metric: str = "separation", seed: int = 0
) -> tuple[float, float]:
    """(difference, two-sided p) of ``metric`` between two models on the same pairs, by scipy's
    paired permutation test (each pair's two cosines swapped between the models at random): the
    test the study's model comparisons use instead of unpaired Welch tests on the same pairs."""
    from scipy import stats

    labels = np.asarray(categories)
    sim, dif = labels == "similar", labels == "different"

    def statistic(x, y, axis=-1):
        if metric == "separation":
            values_x = x[..., sim].mean(axis=-1) - x[..., dif].mean(axis=-1)
            values_y = y[..., sim].mean(axis=-1) - y[..., dif].mean(axis=-1)
        else:
            values_x = _auc_rows(np.atleast_2d(x[..., sim]), np.atleast_2d(x[..., dif]))
            values_y = _auc_rows(np.atleast_2d(y[..., sim]), np.atleast_2d(y[..., dif]))
        return values_x - values_y

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    result = stats.permutation_test(
        (x, y),
        statistic,
        permutation_type="samples",
        vectorized=True,
        n_resamples=9999,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(np.ravel(result.statistic)[0]), float(result.pvalue)
