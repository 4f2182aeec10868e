from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory):
    """A small pairs file over the tiny tokenizer's vocabulary (with negatives on most pairs)."""
    words = ["mitral", "aortic", "tricuspid", "atrial", "ventricular", "pericardial", "coronary", "pulmonary"]
    rows = []
    for i, word in enumerate(words * 6):
        row = {"anchor": f"{word} valve stenosis {i}", "positive": f"the {word} valve regurgitation {i}",
               "source": "test", "relation": "synthetic", "group": word}  # fmt: skip
        if i % 4:
            row["negative"] = f"{words[(i + 3) % len(words)]} effusion with chest pain"
        rows.append(row)
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def tiny_config(tiny_model_dir, tiny_pairs, tmp_path):
    """Training settings for a tiny BERT that finish in seconds; override per test."""

    def make(**overrides):
        from cardiolora.training import build_config

        values = {
            "model": str(tiny_model_dir("bert")), "data": str(tiny_pairs), "out": str(tmp_path / "run"),
            "max_steps": 3, "batch_size": 8, "save_steps": 2, "report_to": [], "eval_resamples": 100,
        }  # fmt: skip
        for key, value in overrides.items():
            if isinstance(value, dict):
                values[key] = {**values.get(key, {}), **value}
            else:
                values[key] = value
        return build_config(values)

    return make
