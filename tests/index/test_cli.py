"""`cardiolora index build --index-type/--nlist/--check-recall`, `search --nprobe` and their errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app

runner = CliRunner()
WORDS = ["mitral", "aortic", "stenosis", "regurgitation", "atrial", "flutter", "effusion", "infarction", "acute"]


@pytest.fixture
def corpus(write_jsonl):
    rows = [
        {"id": f"t{i}", "text": f"{WORDS[i % 9]} {WORDS[(i // 9) % 9]} {WORDS[(i // 81) % 9]} case {i}"}
        for i in range(300)
    ]
    return write_jsonl("corpus.jsonl", rows)


def build(tiny_model_dir, corpus, out, *options):
    args = ["index", "build", "--model", str(tiny_model_dir("bert")), "--corpus", str(corpus), "--out", str(out)]
    return runner.invoke(app, [*args, *options])


def test_ivf_build_checks_recall_and_search_takes_nprobe(tiny_model_dir, corpus, tmp_path):
    out = tmp_path / "ivf"
    built = build(tiny_model_dir, corpus, out, "--index-type", "ivf-flat", "--nlist", "4", "--check-recall", "50")
    assert built.exit_code == 0, built.output
    recall = float(next(line for line in built.stdout.splitlines() if line.startswith("recall@10 ")).split()[1])
    info = json.loads((out / "index.json").read_text())
    assert info["recipe"]["nlist"] == 4 and info["recall_check"]["recall"] == pytest.approx(recall, abs=1e-4)
    assert info["model"] == str(tiny_model_dir("bert"))
    found = runner.invoke(app, ["search", str(out), "mitral stenosis", "-k", "3", "--nprobe", "4", "--json"])
    assert found.exit_code == 0, found.output
    assert len(found.stdout.splitlines()) == 3
    too_many = runner.invoke(app, ["search", str(out), "mitral stenosis", "--nprobe", "5"])
    assert too_many.exit_code == 2 and "--nprobe" in too_many.stderr and "nlist 4" in too_many.stderr


def test_the_corpus_may_be_positional_as_for_data_corpus(tiny_model_dir, corpus, tmp_path):
    model = ["--model", str(tiny_model_dir("bert"))]
    positional = runner.invoke(app, ["index", "build", str(corpus), *model, "--out", str(tmp_path / "a")])
    assert positional.exit_code == 0, positional.output
    by_option = build(tiny_model_dir, corpus, tmp_path / "b")
    assert by_option.exit_code == 0, by_option.output
    assert (tmp_path / "a" / "meta.jsonl").read_text() == (tmp_path / "b" / "meta.jsonl").read_text()
    for args in ([str(corpus), "--corpus", str(corpus)], []):
        result = runner.invoke(app, ["index", "build", *args, *model, "--out", str(tmp_path / "c")])
        assert result.exit_code == 2 and "give the corpus once" in result.stderr
        assert not (tmp_path / "c").exists()


def test_the_default_type_for_a_small_corpus_is_flat_and_refuses_nprobe(tiny_model_dir, corpus, tmp_path):
    out = tmp_path / "flat"
    assert build(tiny_model_dir, corpus, out).exit_code == 0
    assert json.loads((out / "index.json").read_text())["recipe"]["type"] == "flat"
    refused = runner.invoke(app, ["search", str(out), "mitral stenosis", "--nprobe", "2"])
    assert refused.exit_code == 2 and "--nprobe applies to ivf-flat and ivf-pq" in refused.stderr


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--index-type", "annoy"], "--index-type"),
        (["--index-type", "flat", "--nlist", "4"], "--nlist"),
        (["--index-type", "ivf-pq", "--pq-nbits", "17"], "--pq-nbits"),
        (["--index-type", "ivf-pq", "--pq-m", "7"], "--pq-m"),  # 7 does not divide 32: found once the model loads
        (["--index-type", "ivf-flat", "--nlist", "400"], "--nlist"),  # more lists than texts
        (["--check-recall", "-1"], "--check-recall"),
    ],
)
def test_bad_options_exit_2_naming_the_option_and_write_nothing(tiny_model_dir, corpus, tmp_path, options, named):
    out = tmp_path / "out" / "index"
    result = build(tiny_model_dir, corpus, out, *options)
    assert result.exit_code == 2, result.output
    assert named in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
