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


@pytest.mark.parametrize("model", ["smollm2-135m", "mpnet"])
def test_real_models_train_a_few_steps(model, tmp_path, tiny_pairs_file=None):
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"anchor": f"Mitral stenosis case {i}", "positive": f"Narrowed mitral valve {i}",
             "negative": f"Atrial flutter episode {i}"} for i in range(24)]  # fmt: skip
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    done = _cardiolora("train", "--model", model, "--data", str(pairs), "--out", str(out), "--max-steps", "3",
                       "--batch-size", "8", "--report-to", "none")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["global_step"] == 3
    assert (out / "adapter" / "adapter_model.safetensors").exists()
