"""End to end through the installed command, in a fresh process per call (slow: real models)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _cardiolora(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cardiolora", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.mark.parametrize("model", ["minilm", "mpnet", "smollm2-135m"])
def test_packaged_models_evaluate_on_every_bundled_set(model, tmp_path):
    out = tmp_path / f"{model}.json"
    done = _cardiolora("evaluate", "--model", model, "-e", "cardiology", "-e", "pulmonology",
                       "-e", "nephrology", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert [e["eval_set"]["name"] for e in result["evaluations"]] == ["cardiology", "pulmonology", "nephrology"]
    assert result["model"]["name"] == model
    low, high = result["separation_ci"]
    assert low <= result["separation"] <= high
    assert "separation" in done.stdout


def test_bad_input_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence1": "a", "sentence2": "b", "category": "similar"}\n{"sentence1": "a"}\n')
    out = tmp_path / "r.json"
    done = _cardiolora("evaluate", "--model", "minilm", "-e", str(bad), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and f"{bad}:2:" in done.stderr
    assert not out.exists()
    done = _cardiolora("evaluate", "--model", "minlm")
    assert done.returncode == 2 and "did you mean 'minilm'" in done.stderr
