"""The command line: output files, exit codes and one-line errors for bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from cardiolora.cli import app

from .helpers import assert_clean_failure, mode, snapshot

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


# ------------------------------------------------------------------ issue 13: hostile names and files


@pytest.mark.parametrize("name", ["[/]x.jsonl", "[bold]x.jsonl", "x[/].jsonl\\"])
def test_error_messages_are_printed_literally_not_as_markup(tmp_path, name):
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["evaluate", "-e", str(tmp_path / name), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(f"{tmp_path / name}: file not found",))


def test_a_line_break_in_a_message_stays_on_one_line(tmp_path):
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["evaluate", "-e", str(tmp_path / "a\nb.jsonl"), "--out", str(out)])
    assert_clean_failure(result, out, fragments=("file not found",))


def test_eval_set_names_and_model_paths_print_literally(tiny_model_dir, write_jsonl, tmp_path):
    path = write_jsonl("[bold]odd[red].jsonl", _evalset_rows())
    result = runner.invoke(app, ["evaluate", "--model", str(tiny_model_dir("bert")), "-e", str(path),
                                 "--n-resamples", "200"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "[bold]odd[red]" in result.stdout


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("Caf\xe9 au lait spots\n".encode("latin-1"), (":1:", "not UTF-8", "byte 0xe9 at column 4")),
        (b"mitral stenosis\n\xff\xfe\n", (":2:", "not UTF-8")),
        (b"\n\n  \n", ("no texts",)),
    ],
)
def test_embed_input_that_is_not_utf8_text_fails_cleanly(tmp_path, content, fragments):
    texts = tmp_path / "texts.txt"
    texts.write_bytes(content)
    out = tmp_path / "vectors.npy"
    result = runner.invoke(app, ["embed", "--model", "minilm", "--input", str(texts), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(str(texts), *fragments))


def test_embed_reads_a_bom_file_and_writes_the_users_mode(tiny_model_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_bytes("\ufeffmitral stenosis\r\nchest pain\r\n".encode())
    out = tmp_path / "vectors.jsonl"
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["embed", "--model", str(tiny_model_dir("bert")), "--input", str(texts), "--out", str(out)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == ["mitral stenosis", "chest pain"]
    assert mode(out) == 0o644


def test_results_json_gets_the_users_mode(tiny_model_dir, write_jsonl, tmp_path):
    path = write_jsonl("set.jsonl", _evalset_rows())
    out = tmp_path / "results.json"
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["evaluate", "--model", str(tiny_model_dir("bert")), "-e", str(path), "--out", str(out),
                                     "--n-resamples", "200"])  # fmt: skip
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o644


def test_search_prints_corpus_texts_and_ids_literally(tiny_model_dir, write_jsonl, tmp_path):
    corpus = write_jsonl("corpus.jsonl", [
        {"id": "[/]", "text": "closing tag [/] in a note"},
        {"id": "b", "text": "[bold]emphasis[/bold] kept as written"},
        {"id": "c", "text": "mitral valve stenosis"},
    ])  # fmt: skip
    index = tmp_path / "[x]index"
    model = str(tiny_model_dir("bert"))
    built = runner.invoke(app, ["index", "build", "--model", model, "--corpus", str(corpus), "--out", str(index)])
    assert built.exit_code == 0, built.output
    assert str(index) in built.stdout
    found = runner.invoke(app, ["search", str(index), "[/] query [red]", "-k", "3"])
    assert found.exit_code == 0, found.output
    for text in ("closing tag [/] in a note", "[bold]emphasis[/bold] kept as written", "[/] query [red]"):
        assert text in found.stdout, found.stdout


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b'model = "minilm"\n\xff\n', (":2:", "not UTF-8", "byte 0xff")),
        (b"a = " + b"[" * 100_000, ("nested too deeply",)),
        (b"model = [unclosed\n", ("invalid TOML",)),
    ],
)
def test_train_config_that_is_not_toml_fails_before_anything_is_written(tmp_path, content, fragments):
    config = tmp_path / "train.toml"
    config.write_bytes(content)
    run_dir = tmp_path / "run"
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["train", "--config", str(config), "--out", str(run_dir)])
    assert_clean_failure(result, run_dir, fragments=(str(config), *fragments))
    assert snapshot(tmp_path) == before


def test_load_toml_reads_a_bom(tmp_path):
    from cardiolora.training.config import load_toml

    config = tmp_path / "train.toml"
    config.write_bytes(b'\xef\xbb\xbfmodel = "minilm"\r\n[peft]\r\nr = 8\r\n')
    assert load_toml(config) == {"model": "minilm", "peft": {"r": 8}}
