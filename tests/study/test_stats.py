from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cardiolora.evaluation.metrics import separation
from cardiolora.study import stats


def test_holm_matches_the_step_down_definition():
    # Sorted p: 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1 with running maximum.
    assert stats.holm_bonferroni([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert stats.holm_bonferroni([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_paired_tests_see_a_difference_the_pairs_share_and_holm_adjusts():
    rng = np.random.default_rng(1)
    labels = ["similar"] * 40 + ["different"] * 40
    # The pairs differ a lot among themselves (difficulty), the models little but consistently.
    difficulty = np.r_[rng.normal(0.6, 0.15, 40), rng.normal(0.4, 0.15, 40)]
    better = difficulty + np.r_[np.full(40, 0.03), np.zeros(40)] + rng.normal(0, 0.005, 80)
    same = difficulty + rng.normal(0, 0.005, 80)
    tests = {(t.a, t.b, t.metric): t for t in stats.pairwise_paired({"a": better, "b": difficulty, "c": same}, labels)}
    assert len(tests) == 6  # 3 model pairs x (separation, ROC-AUC)
    ab = tests[("a", "b", "separation")]
    assert ab.difference == pytest.approx(
        separation(better[:40], better[40:]) - separation(difficulty[:40], difficulty[40:])
    )
    assert ab.p_holm >= ab.p and ab.significant
    assert not tests[("b", "c", "separation")].significant
    # Unpaired, the same 0.03 drowns in the pairs' spread: what pairing is for.
    assert scipy_stats.ttest_ind(better[:40], difficulty[:40], equal_var=False).pvalue > 0.05


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
