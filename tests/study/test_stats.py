from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cardiolora.evaluation.metrics import separation
from cardiolora.study import stats


def test_contributions_average_to_the_separation_score():
    rng = np.random.default_rng(0)
    cosines = rng.uniform(-0.2, 0.9, 30)
    labels = ["similar"] * 12 + ["different"] * 15 + ["negation"] * 3
    terms = stats.separation_contributions(cosines, labels)
    assert len(terms) == 27
    assert terms.mean() == pytest.approx(separation(cosines[:12], cosines[12:27]))


def test_holm_matches_the_step_down_definition():
    # Sorted p: 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1 with running maximum.
    assert stats.holm_bonferroni([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm_bonferroni([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_pairwise_welch_agrees_with_scipy_and_orders_effects():
    rng = np.random.default_rng(1)
    samples = {"a": rng.normal(0.5, 0.1, 40), "b": rng.normal(0.3, 0.1, 40), "c": rng.normal(0.3, 0.1, 40)}
    tests = {(t.a, t.b): t for t in stats.pairwise_welch(samples)}
    assert len(tests) == 3
    ab = tests[("a", "b")]
    assert ab.p == pytest.approx(scipy_stats.ttest_ind(samples["a"], samples["b"], equal_var=False).pvalue)
    assert ab.p_holm >= ab.p and ab.significant and ab.cohens_d > 1
    assert not tests[("b", "c")].significant


def test_pearson_needs_three_points_and_variation():
    assert stats.pearson([1, 2], [3, 4]).r is None
    assert "constant" in stats.pearson([1, 1, 1], [1, 2, 3]).note
    assert stats.pearson([1, 2, 3], [2, 4, 6.5]).r == pytest.approx(0.9986, abs=1e-3)


def test_pareto_front_drops_dominated_points():
    points = {"fast": (500.0, 0.2), "good": (100.0, 0.5), "worse": (90.0, 0.4), "both": (500.0, 0.1)}
    assert stats.pareto_front(points) == ["good", "fast"]


def test_retention():
    assert stats.retention(0.1, 0.4) == pytest.approx(0.25)
    assert stats.retention(None, 0.4) is None
    assert stats.retention(0.1, -0.2) is None
