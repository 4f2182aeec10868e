"""docs/experiments/paired_runs.py: recipe B against recipe A from saved cosines, with paired CIs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from cardiolora.evaluation.evalset import bundled_eval_sets, load_eval_set

SCRIPT = Path(__file__).parents[2] / "docs" / "experiments" / "paired_runs.py"


def _script():
    spec = importlib.util.spec_from_file_location("paired_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _evaluation(path: Path, cosines: np.ndarray, ranks: list[int]) -> Path:
    eval_set = load_eval_set(bundled_eval_sets()["cardiology-dev"])
    record = {
        "evaluations": [
            {
                "eval_set": {"name": eval_set.name, "path": str(eval_set.path), "sha256": eval_set.sha256},
                "pair_cosines": cosines.tolist(),
                "pair_categories": [p.category for p in eval_set.pairs],
            }
        ],
        "normalisation": [{"normalisation_set": {"name": "cardiology-dev"}, "ranks": ranks}],
    }
    path.write_text(json.dumps(record))
    return path


def test_a_real_gain_has_a_ci_above_zero_and_no_change_has_none(tmp_path):
    eval_set = load_eval_set(bundled_eval_sets()["cardiology-dev"])
    rng = np.random.default_rng(0)
    before = rng.uniform(0.2, 0.8, len(eval_set.pairs))
    similar = np.array([p.category == "similar" for p in eval_set.pairs])
    after = before + 0.3 * similar  # every similar pair rises: the ROC-AUC must rise on every form
    a = _evaluation(tmp_path / "a.json", before, [1, 3, 2, 5])
    b = _evaluation(tmp_path / "b.json", after, [1, 1, 1, 1])
    lines = _script().compare([a], [b])
    rows = [line for line in lines[2:] if "(normalisation)" not in line]
    assert len(rows) == len(eval_set.forms()) + 1
    for row in rows:
        low = float(row.rsplit("[", 1)[1].split(",")[0])
        assert low > 0, row
    same = _script().compare([a], [_evaluation(tmp_path / "a2.json", before, [1, 3, 2, 5])])
    assert all("+0.000 [+0.000, +0.000]" in line for line in same[2:]), same
    norm = next(line for line in lines if "(normalisation)" in line)
    assert "0.250" in norm and "1.000" in norm and "+0.750" in norm
