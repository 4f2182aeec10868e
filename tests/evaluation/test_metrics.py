from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cardiolora.evaluation import category_stats, negation_scores, roc_auc, separation, separation_ci, tier


def _samples(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.6, 0.15, n), rng.normal(0.35, 0.15, n)


def test_separation_is_mean_similar_minus_mean_different():
    assert separation(np.array([0.9, 0.7]), np.array([0.1, 0.3])) == pytest.approx(0.6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_ci_contains_the_estimate(seed):
    similar, different = _samples(50, seed)
    low, high = separation_ci(similar, different, n_resamples=5000, seed=seed)
    assert low < separation(similar, different) < high


def test_bootstrap_ci_narrows_as_n_grows():
    widths = []
    for n in (20, 80, 320):
        similar, different = _samples(n, seed=7)
        low, high = separation_ci(similar, different, n_resamples=5000, seed=0)
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # The width of a mean's CI shrinks like 1/sqrt(n): quadrupling n about halves it.
    assert widths[0] / widths[2] == pytest.approx(4.0, rel=0.25)


def test_bootstrap_is_seeded():
    similar, different = _samples(30)
    assert separation_ci(similar, different, seed=3) == separation_ci(similar, different, seed=3)
    assert separation_ci(similar, different, seed=3) != separation_ci(similar, different, seed=4)


def test_bootstrap_ci_needs_two_pairs_per_category():
    assert all(np.isnan(separation_ci(np.array([0.5]), np.array([0.1, 0.2]))))


@pytest.mark.parametrize("seed", range(4))
def test_auc_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    similar = np.round(rng.normal(0.6, 0.2, 40), 2)  # rounding makes ties
    different = np.round(rng.normal(0.45, 0.2, 55), 2)
    scores = np.concatenate([similar, different])
    labels = np.concatenate([np.ones_like(similar), np.zeros_like(different)])
    assert roc_auc(similar, different) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_extremes():
    assert roc_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert roc_auc(np.array([0.1, 0.2]), np.array([0.9, 0.8])) == 0.0


def test_negation_scores():
    gap, accuracy = negation_scores(np.array([0.9, 0.8, 0.5, 0.6]), np.array([0.7, 0.85, 0.5, 0.2]))
    assert gap == pytest.approx((2.8 - 2.25) / 4)
    assert accuracy == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert all(np.isnan(negation_scores(np.array([]), np.array([]))))


def test_tiers_follow_the_study():
    assert [tier(v) for v in (0.5, 0.45, 0.3, 0.25, 0.1, -0.2)] == [
        "high", "high", "moderate", "moderate", "low", "low"
    ]  # fmt: skip


def test_category_stats_use_the_sample_sd():
    stats = category_stats(np.array([1.0, 2.0, 3.0]))
    assert (stats.mean, stats.sd, stats.n) == (2.0, 1.0, 3)
    assert category_stats(np.array([0.4])).sd == 0.0
