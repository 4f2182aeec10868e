"""The command line: output files, exit codes and one-line errors for bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.errors import CardioloraError

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
        [
            "evaluate",
            "--model",
            str(tiny_model_dir("bert")),
            "-e",
            str(first),
            "-e",
            str(second),
            "--out",
            str(out),
            "--n-resamples",
            "200",
        ],  # fmt: skip
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
    assert "evaluating: first" in result.output and "evaluating: second" in result.output  # progress, set by set
    assert not list(out.parent.glob(".*"))  # no temporary files left beside the result
    # --dims keeps the first N dimensions (renormalized): other cosines, recorded in the results.
    truncated = tmp_path / "truncated.json"
    model = str(tiny_model_dir("bert"))
    args = ["evaluate", "--model", model, "-e", str(first), "--dims", "8", "--out", str(truncated),
            "--n-resamples", "200"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    small = json.loads(truncated.read_text())
    assert small["model"]["truncate_dim"] == 8 and small["model"]["dimension"] == 8
    assert small["evaluations"][0]["pair_cosines"] != data["evaluations"][0]["pair_cosines"]
    too_many = runner.invoke(app, [*args[:6], "100000", "--out", str(tmp_path / "none.json")])
    assert too_many.exit_code == 2 and "dimensions" in too_many.stderr


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
        result = runner.invoke(app, ["embed", "--model", str(tiny_model_dir("bert")), "--input", str(texts),
                                     "--out", str(out)])  # fmt: skip
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
        result = runner.invoke(app, ["evaluate", "--model", str(tiny_model_dir("bert")), "-e", str(path),
                                     "--out", str(out), "--n-resamples", "200"])  # fmt: skip
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


# ------------------------------------------------------------------ issue 14: one consistent command line


def _tiny_adapter(model_dir, directory):
    """A LoRA adapter of a tiny model, as PEFT saves it (its base: the model's absolute path)."""
    from tests.embedding.test_embedder import _save_lora_adapter

    return _save_lora_adapter(model_dir, directory, seed=3)


def _fake_adapter(directory, base):
    from tests.models.test_adapters import fake_adapter

    return fake_adapter(directory, base=base)


def test_version_and_short_help():
    from cardiolora import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"cardiolora {__version__}"
    for args in (["-h"], ["train", "-h"], ["data", "ontology", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.stdout, args


@pytest.mark.parametrize(
    "command",
    [["train"], ["evaluate"], ["embed"], ["bench"], ["serve"], ["export"], ["data", "ontology"], ["data", "corpus"],
     ["data", "pairs"], ["study", "run"], ["models", "list"]],
)  # fmt: skip
def test_help_shows_no_python_types_for_options(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    options = [line for line in result.stdout.splitlines() if " --" in line]
    assert options
    for line in options:
        assert "list[" not in line and " range>" not in line, line


def test_train_help_shows_the_configuration_defaults():
    from cardiolora.training import LossSettings, PeftSettings, TrainConfig

    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    text = " ".join(result.stdout.split())
    peft, loss = PeftSettings(), LossSettings()
    for fragment in (f"LoRA rank (default {peft.r})", "LoRA alpha", f"(default {peft.alpha})",
                     f"(default {TrainConfig.model_fields['learning_rate'].default})",
                     f"Rows per device batch (default {TrainConfig.model_fields['batch_size'].default})",
                     f"(default {TrainConfig.model_fields['epochs'].default})", f"(default {loss.name})"):  # fmt: skip
        assert fragment in text, fragment


@pytest.mark.parametrize(("given", "missing"), [("--data", "--out"), ("--out", "--data")])
def test_train_names_a_missing_flag_as_the_command_line_does(tmp_path, given, missing):
    result = runner.invoke(app, ["train", given, str(tmp_path / "given")])
    assert_clean_failure(result, tmp_path / "given", fragments=(f"{missing} is required",))
    assert "Field required" not in result.stderr


def test_export_needs_no_merge_flag_and_still_accepts_it(tmp_path):
    for extra in ([], ["--merge"]):
        out = tmp_path / "export"
        result = runner.invoke(app, ["export", str(tmp_path), "--out", str(out), *extra])
        assert_clean_failure(result, out, fragments=("neither a training run directory", "nor an adapter"))
        assert "--merge" not in result.stderr


def test_an_eval_set_in_another_format_names_the_supported_ones(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("sentence1,sentence2,category\nmitral stenosis,aortic stenosis,similar\n")
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["evaluate", "-e", str(path), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(f"{path}:1:", "a .csv file is not a supported", "JSONL", "bundled"))


@pytest.mark.parametrize(
    "command", [["evaluate", "-e", "cardiology"], ["embed", "--out", "{out}", "chest pain"], ["bench"]]
)
def test_an_adapter_of_another_zoo_model_is_refused_naming_both(tmp_path, command):
    adapter = _fake_adapter(tmp_path / "run" / "adapter", base="minilm")
    out = tmp_path / "vectors.npy"
    args = [a.replace("{out}", str(out)) for a in command]
    result = runner.invoke(app, [*args, "--model", "mpnet", "--adapter", str(tmp_path / "run")])
    assert_clean_failure(result, out, fragments=(str(adapter), "trained on model 'minilm', not 'mpnet'"))


def test_serve_takes_a_short_adapter_flag_and_refuses_adapters_of_two_models(tmp_path):
    from cardiolora.cli.serve import serve_model

    first = _fake_adapter(tmp_path / "first", base="minilm")
    second = _fake_adapter(tmp_path / "second", base="mpnet")
    assert serve_model(None, {"a": first}) == "minilm"
    assert serve_model(None, {}) == "minilm"
    with pytest.raises(CardioloraError, match="different models"):
        serve_model(None, {"a": first, "b": second})
    result = runner.invoke(app, ["serve", "-a", f"a={first}", "-a", f"b={second}"])
    assert_clean_failure(result, fragments=("different models", "a on 'minilm'", "b on 'mpnet'"))
    result = runner.invoke(app, ["serve", "-m", "mpnet", "-a", f"a={first}"])
    assert_clean_failure(result, fragments=(str(first), "trained on model 'minilm', not 'mpnet'"))


def test_the_model_defaults_to_the_adapters_base(tiny_model_dir, write_jsonl, tmp_path):
    model_dir = tiny_model_dir("bert")
    adapter = _tiny_adapter(model_dir, tmp_path / "adapter")
    out = tmp_path / "vectors.npy"
    result = runner.invoke(app, ["embed", "--adapter", str(adapter), "--out", str(out), "chest pain"])
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (1, 32)  # the tiny model's dimension, not minilm's 384
    sets = write_jsonl("set.jsonl", _evalset_rows())
    result = runner.invoke(app, ["evaluate", "-a", str(adapter), "-e", str(sets), "--n-resamples", "200"])
    assert result.exit_code == 0, result.output
    assert "adapter" in result.stdout


def test_an_adapter_that_does_not_fit_says_so_in_one_line(tiny_model_dir, tmp_path):
    from transformers import AutoModel, BertConfig

    small = tiny_model_dir("bert")
    adapter = _tiny_adapter(small, tmp_path / "adapter")
    wider = tmp_path / "wider-bert"
    config = BertConfig.from_pretrained(small)
    config.hidden_size, config.intermediate_size = 48, 96
    AutoModel.from_config(config).save_pretrained(wider)
    for path in small.iterdir():  # the tokenizer's files
        if path.is_file() and path.name not in ("config.json", "model.safetensors"):
            (wider / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "vectors.npy"
    result = runner.invoke(app, ["embed", "-m", str(wider), "-a", str(adapter), "--out", str(out), "chest pain"])
    # the adapter records its base: another local model is refused before anything is loaded
    assert_clean_failure(result, out, fragments=(str(adapter), f"trained on model {str(small)!r}",
                                                  "leave out the model"))  # fmt: skip
    # an adapter that does not say what it was trained on fails at loading, in one line too
    config_path = adapter / "adapter_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "base_model_name_or_path": None}))
    result = runner.invoke(app, ["embed", "-m", str(wider), "-a", str(adapter), "--out", str(out), "chest pain"])
    assert_clean_failure(result, out, fragments=(str(adapter), "does not fit model", "other shapes"))
    assert "above" not in result.stderr


def test_embed_jsonl_keeps_the_input_ids_and_counts_in_words(tiny_model_dir, tmp_path):
    texts = tmp_path / "notes.jsonl"
    rows = [{"id": "n1", "text": "mitral stenosis"}, {"text": "chest pain"}]
    texts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "vectors.jsonl"
    model = str(tiny_model_dir("bert"))
    result = runner.invoke(app, ["embed", "-m", model, "--input", str(texts), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("id") for r in records] == ["n1", None] and records[0]["text"] == "mitral stenosis"
    assert "wrote 2 embeddings" in result.stdout
    result = runner.invoke(app, ["embed", "-m", model, "--out", str(tmp_path / "one.npy"), "chest pain"])
    assert "wrote 1 embedding of" in result.stdout, result.stdout
    # --out - writes the same JSONL to standard output, and nothing else there (for pipes).
    piped = runner.invoke(app, ["embed", "-m", model, "--input", str(texts), "--out", "-"])
    assert piped.exit_code == 0, piped.output
    assert [json.loads(line) for line in piped.stdout.splitlines()] == records


def test_a_one_pair_category_has_no_spread():
    from rich.console import Console

    from cardiolora.cli.main import render_evaluation

    evaluation = {
        "eval_set": {"name": "tiny", "n_pairs": 3}, "separation": 0.2, "separation_ci": [0.1, 0.3], "tier": "weak",
        "auc": 0.7, "negation_gap": None, "negation_accuracy": None, "n_negation_tests": 0,
        "categories": {"similar": {"mean": 0.61, "sd": 0.0, "n": 1}, "different": {"mean": 0.4, "sd": 0.05, "n": 2}},
    }  # fmt: skip
    console = Console(width=200, record=True)
    console.print(render_evaluation({"model": {"name": "tiny"}, "evaluations": [evaluation]}))
    text = console.export_text()
    assert "0.610 ± n/a" in text and "0.400 ± 0.050" in text and "± 0.000" not in text


def test_models_list_shows_the_targets_training_adapts():
    from cardiolora.training import PeftSettings

    result = runner.invoke(app, ["models", "list", "--json"])
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["minilm"]["lora_targets"] == PeftSettings().target_modules == ["all-linear"]
    assert rows["minilm"]["attention_targets"] == ["query", "value"]
    result = runner.invoke(app, ["models", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "all-linear" in result.stdout


def test_the_data_card_heading_stays_on_one_line(tmp_path):
    from types import SimpleNamespace

    from cardiolora.cli import common
    from cardiolora.cli.data import print_datacard_summary

    path = tmp_path / ("a-long-directory-name-" * 4) / "cardio-recommended.jsonl"
    card = {"n_pairs": 12345, "by_relation": {"synonym": 12345}, "removed": {"duplicates": 0}}
    result = SimpleNamespace(
        path=path, card=card, datacard_json=path.with_suffix(".json"), datacard_md=path.with_suffix(".md")
    )
    with common.console.capture() as captured:
        print_datacard_summary(result)
    assert f"{path}: 12345 pairs" in captured.get().splitlines()


def test_embedder_load_prints_no_progress_bars(tiny_model_dir, capfd):
    from cardiolora.embedding import Embedder

    model = str(tiny_model_dir("bert"))
    capfd.readouterr()
    Embedder.load(model).encode(["chest pain"] * 600)
    captured = capfd.readouterr()
    assert "Loading" not in captured.err and "it/s" not in captured.err, captured.err


def test_python_m_cardiolora_is_the_command():
    import subprocess
    import sys

    command = [sys.executable, "-m", "cardiolora", "--version"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith("cardiolora "), result.stderr
