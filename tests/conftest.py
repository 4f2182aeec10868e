"""Shared fixtures: tiny models built from configs, and the packaged pretrained models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A factory: ``tiny_model_dir("qwen2")`` is the directory of a tiny random Qwen2 (built once)."""
    from cardiolora.models.tiny import build_tiny_model

    built: dict[str, Path] = {}

    def build(architecture: str) -> Path:
        if architecture not in built:
            built[architecture] = build_tiny_model(architecture, tmp_path_factory.mktemp(f"tiny-{architecture}"))
        return built[architecture]

    return build


def _require(name: str) -> None:
    from cardiolora.models import get_model_spec

    spec = get_model_spec(name)
    if not spec.is_available():
        pytest.skip(f"{name} is not installed here ({spec.how_to_get()})")


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 as an Embedder (installed by `make install`)."""
    from cardiolora.embedding import Embedder

    _require("minilm")
    return Embedder.load("minilm")


@pytest.fixture
def write_jsonl(tmp_path):
    """Write lines (dicts or raw strings) to a JSONL file in tmp_path and return its path."""

    def write(name: str, rows: list) -> Path:
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
        return path

    return write


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
