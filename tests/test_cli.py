"""The command line: output files, exit codes and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cardiolora.cli import app

from .helpers import assert_clean_failure

runner = CliRunner()
GOOD = {"sentence1": "mitral stenosis", "sentence2": "aortic stenosis", "category": "similar"}
DIFFERENT = {"sentence1": "atrial fibrillation", "sentence2": "pericardial effusion", "category": "different"}


def _evalset_rows():
    return [GOOD, DIFFERENT, {**GOOD, "sentence1": "chest pain"}, {**DIFFERENT, "sentence1": "murmur"}]


def test_evaluate_writes_results_with_the_documented_keys(tiny_model_dir, write_jsonl, tmp_path):
    first = write_jsonl("first.jsonl", _evalset_rows())
    second = write_jsonl("second.jsonl", _evalset_rows()[:2] + [DIFFERENT])
    out = tmp_path / "out" / "results.json"
    result = runner.invoke(
        app,
        ["evaluate", "--model", str(tiny_model_dir("bert")), "-e", str(first), "-e", str(second),
         "--out", str(out), "--n-resamples", "200"],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    for key in ("separation", "separation_ci", "auc", "negation_gap", "negation_accuracy", "categories",
                "domains", "model", "adapter", "eval_set", "versions", "evaluations", "settings"):  # fmt: skip
        assert key in data, key
    assert [e["eval_set"]["name"] for e in data["evaluations"]] == ["first", "second"]
    assert data["separation"] == data["evaluations"][0]["separation"]
    assert data["settings"]["n_resamples"] == 200
    assert "separation" in result.output and "first" in result.output
    assert not list(out.parent.glob(".*"))  # no temporary files left beside the result


@pytest.mark.parametrize(
    ("rows", "fragments"),
    [
        ([GOOD, "{broken"], [":2:", "malformed JSON"]),
        ([GOOD, {**GOOD, "category": "alike"}], [":2:", "field 'category'", "unknown category"]),
        ([{**GOOD, "sentence1": ""}], [":1:", "field 'sentence1'", "empty"]),
        ([GOOD, GOOD, {**GOOD, "sentence2": "   "}], [":3:", "field 'sentence2'", "whitespace"]),
        ([{"sentence2": "x", "category": "similar"}], [":1:", "field 'sentence1'", "missing"]),
    ],
)
def test_bad_eval_set_fails_cleanly(write_jsonl, tmp_path, rows, fragments):
    path = write_jsonl("bad.jsonl", rows)
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["evaluate", "--model", "minilm", "-e", str(path), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(str(path), *fragments))


def test_missing_eval_set_file(tmp_path):
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["evaluate", "-e", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    assert_clean_failure(result, out, fragments=("missing.jsonl", "file not found"))


def test_unknown_model_name_suggests_close_matches(tmp_path):
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["evaluate", "--model", "mpnet-base", "--out", str(out)])
    assert_clean_failure(result, out, fragments=("unknown model 'mpnet-base'", "did you mean", "'mpnet'"))


def test_models_list_shows_the_zoo():
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"minilm", "mpnet", "smollm2-135m", "biolinkbert-large", "qwen3-embedding-4b"} <= set(rows)
    assert rows["smollm2-135m"]["family"] == "decoder" and rows["smollm2-135m"]["pooling"] == "lasttoken"
    assert {"name", "family", "parameters", "dimension", "pooling", "source", "available"} <= set(rows["minilm"])


@pytest.mark.parametrize("suffix", [".npy", ".jsonl"])
def test_embed_texts_and_files(tiny_model_dir, tmp_path, suffix):
    model = str(tiny_model_dir("qwen2"))
    out = tmp_path / f"vectors{suffix}"
    result = runner.invoke(app, ["embed", "--model", model, "--out", str(out), "mitral stenosis", "chest pain"])
    assert result.exit_code == 0, result.output
    if suffix == ".npy":
        vectors = np.load(out)
    else:
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["text"] for r in records] == ["mitral stenosis", "chest pain"]
        vectors = np.array([r["embedding"] for r in records])
    assert vectors.shape[0] == 2
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": "aortic stenosis"}) + "\n" + json.dumps({"body": "x"}) + "\n")
    bad_out = tmp_path / f"bad{suffix}"
    result = runner.invoke(app, ["embed", "--model", model, "--input", str(texts), "--out", str(bad_out)])
    assert_clean_failure(result, bad_out, fragments=(f"{texts}:2:", "field 'text'"))
