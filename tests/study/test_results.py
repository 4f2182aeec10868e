from __future__ import annotations

import json

from cardiolora.study.results import load_results


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_ablation_cells_come_back_in_grid_order_not_name_order(tmp_path):
    _write(tmp_path / "study.json", {"models": []})
    for fraction in (0.5, 0.1):
        for rank in (16, 32, 8):
            cell = tmp_path / "ablation" / f"data-fraction-{fraction}_rank-{rank}"
            _write(cell / "adapted.json", {"evaluations": [{"eval_set": {"name": "cardiology"}, "separation": 0.1}]})
            _write(cell / "train" / "config.json",
                   {"data_fraction": fraction, "peft": {"r": rank, "method": "lora"},
                    "loss": {"name": "infonce"}})  # fmt: skip
    order = [(c.axes["data_fraction"], c.axes["rank"]) for c in load_results(tmp_path).ablation]
    assert order == [(0.1, 8), (0.1, 16), (0.1, 32), (0.5, 8), (0.5, 16), (0.5, 32)]
