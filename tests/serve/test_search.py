from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from tests.helpers import assert_clean_failure

runner = CliRunner()
CORPUS = [
    {"id": "mi", "text": "acute myocardial infarction"},
    {"id": "af", "text": "atrial fibrillation with rapid ventricular response"},
    {"id": "ms", "text": "mitral valve stenosis"},
    {"id": "pe", "text": "pericardial effusion"},
]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_build_search_and_evaluate_through_the_cli(tiny_model_dir, write_jsonl, tmp_path, kind):
    corpus = write_jsonl("corpus.jsonl", CORPUS)
    out = tmp_path / f"index-{kind}"
    model = str(tiny_model_dir("bert"))
    built = runner.invoke(
        app, ["index", "build", "--model", model, "--corpus", str(corpus), "--out", str(out), "--kind", kind]
    )
    assert built.exit_code == 0, built.output
    assert {p.name for p in out.iterdir()} == {"index.faiss", "meta.jsonl", "meta.offsets.npy", "index.json"}
    found = runner.invoke(app, ["search", str(out), "mitral valve stenosis", "-k", "2", "--json"])
    assert found.exit_code == 0, found.output
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(hits) == 2 and hits[0]["id"] == "ms" and hits[0]["score"] >= hits[1]["score"]
    queries = write_jsonl(
        "queries.jsonl",
        [
            {"query": "mitral valve stenosis", "relevant": ["ms"]},
            {"query": "pericardial effusion", "relevant": "pe"},
        ],
    )
    result_file = tmp_path / "retrieval.json"
    evaluated = runner.invoke(
        app,
        [
            "evaluate-retrieval",
            "--index",
            str(out),
            "--queries",
            str(queries),
            "-k",
            "1",
            "--out",
            str(result_file),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(result_file.read_text())["metrics"]["recall@1"] == 1.0  # each query is its own document
    again = runner.invoke(app, ["index", "build", "--model", model, "--corpus", str(corpus), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_evaluation_set_as_a_retrieval_task(tiny_model_dir):
    result = runner.invoke(app, ["evaluate-retrieval", "--model", str(tiny_model_dir("bert")), "-e", "cardiology"])
    assert result.exit_code == 0, result.output
    assert "recall@10" in result.output and "mrr@10" in result.output


def test_every_eval_set_is_evaluated_and_named(tiny_model_dir, tmp_path):
    """`-e A -e B` used to keep only the last set; each is a row now, and the --out file keeps the
    first set at the top level (what docs/experiments/retention_probe.py reads) beside all of them."""
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import load_eval_set
    from cardiolora.evaluation.retrieval import evaluate_eval_set_retrieval

    model = str(tiny_model_dir("bert"))
    out = tmp_path / "retrieval.json"
    result = runner.invoke(
        app,
        ["evaluate-retrieval", "-m", model, "-e", "cardiology", "-e", "pulmonology", "--out", str(out)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    table = "".join(result.stdout.split())  # the title may wrap anywhere in a long model path
    assert "│cardiology│" in table and "│pulmonology│" in table  # one row per set
    assert f"retrieval:model{model}┏" in table  # no adapter: the title names only the model
    written = json.loads(out.read_text())
    assert [e["eval_set"] for e in written["evaluations"]] == ["cardiology", "pulmonology"]
    assert written["eval_set"] == "cardiology" and written["metrics"] == written["evaluations"][0]["metrics"]
    assert written["model"] == model and written["adapter"] is None
    # retention_probe.py's reader:
    assert isinstance(written["metrics"]["mrr@10"], float)
    embedder = Embedder.load(model)
    for entry in written["evaluations"]:
        direct = evaluate_eval_set_retrieval(embedder, load_eval_set(entry["eval_set"]))
        assert entry["metrics"] == pytest.approx(direct.to_dict())
    assert written["evaluations"][0]["metrics"] != written["evaluations"][1]["metrics"]


def test_an_adapter_brings_its_model_and_both_are_named(two_adapters, tiny_model_dir, tmp_path):
    """Without --model the adapter's base model embeds the set; the table and the file name both."""
    _, adapters = two_adapters
    out = tmp_path / "retrieval.json"
    result = runner.invoke(
        app,
        ["evaluate-retrieval", "-a", str(adapters["alpha"]), "-e", "cardiology", "--out", str(out)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["adapter"] == str(adapters["alpha"])
    assert written["model"] == str(tiny_model_dir("bert"))
    table = "".join(result.stdout.split())
    assert f"model{tiny_model_dir('bert')}" in table and f"adapter{adapters['alpha']}" in table
    # The base model beside the adapter, set by set, in the table and the file.
    assert "basemodel" in table and "adapted" in table
    assert [e["eval_set"] for e in written["zero_shot"]] == ["cardiology"]
    assert written["zero_shot"][0]["metrics"] != written["metrics"]
    assert "base_model_results" not in written


def test_an_index_is_not_given_a_model(tmp_path, write_jsonl):
    queries = write_jsonl("queries.jsonl", [{"query": "mitral", "relevant": ["ms"]}])
    result = runner.invoke(
        app, ["evaluate-retrieval", "--index", str(tmp_path), "--queries", str(queries), "-m", "minilm"]
    )
    assert result.exit_code == 2 and "its own model" in result.stderr


def test_queries_help_shows_its_brackets():
    """The help is rich markup: an unescaped "[ids]" was read as a style tag and vanished."""
    result = runner.invoke(app, ["evaluate-retrieval", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert '"relevant": [ids]' in result.output


def test_search_takes_top_k_and_k_beside_dash_k(tiny_model_dir, write_jsonl, tmp_path):
    corpus = write_jsonl("corpus.jsonl", CORPUS)
    out = tmp_path / "index"
    built = runner.invoke(
        app, ["index", "build", "-m", str(tiny_model_dir("bert")), "--corpus", str(corpus), "--out", str(out)]
    )
    assert built.exit_code == 0, built.output
    for flag, k in (("-k", 1), ("--k", 2), ("--top-k", 3)):
        found = runner.invoke(app, ["search", str(out), "mitral valve stenosis", flag, str(k), "--json"])
        assert found.exit_code == 0, found.output
        assert len(found.stdout.splitlines()) == k, flag
    refused = runner.invoke(app, ["search", str(out), "mitral", "--top-k", "0"])
    assert refused.exit_code == 2 and "must be >= 1" in refused.stderr


def test_index_build_reads_plain_text_and_markdown(tiny_model_dir, tmp_path):
    """`--corpus notes.txt` said "malformed JSON": a .txt corpus is one text a line, a Markdown one
    a text per paragraph (the readers of `cardiolora data corpus`), with where each came from."""
    model = str(tiny_model_dir("bert"))
    notes = tmp_path / "notes.txt"
    notes.write_text("acute myocardial infarction\n\nmitral valve stenosis\npericardial effusion\n")
    out = tmp_path / "txt-index"
    built = runner.invoke(app, ["index", "build", "-m", model, "--corpus", str(notes), "--out", str(out)])
    assert built.exit_code == 0, built.output
    rows = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    assert [(r["id"], r["text"]) for r in rows] == [
        ("0", "acute myocardial infarction"),
        ("1", "mitral valve stenosis"),
        ("2", "pericardial effusion"),
    ]
    found = runner.invoke(app, ["search", str(out), "mitral valve stenosis", "-k", "1", "--json"])
    assert json.loads(found.stdout)["id"] == "1"

    doc = tmp_path / "notes.md"
    doc.write_text("# Valves\n\nThe mitral valve shows stenosis.\n\nThe aortic valve shows regurgitation.\n")
    out = tmp_path / "md-index"
    built = runner.invoke(app, ["index", "build", "-m", model, "--corpus", str(doc), "--out", str(out)])
    assert built.exit_code == 0, built.output
    rows = [json.loads(line) for line in (out / "meta.jsonl").read_text().splitlines()]
    # A heading is not a row of its own: it names the section of the paragraphs under it.
    assert [r["text"] for r in rows] == ["The mitral valve shows stenosis.", "The aortic valve shows regurgitation."]
    assert all(r["source"] == str(doc) and r["section"] == "Valves" for r in rows)
    shown = runner.invoke(app, ["search", str(out), "mitral stenosis", "-k", "1"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and f"{doc} paragraph 1, Valves" in "".join(shown.stdout.split("\n"))


def test_an_unknown_corpus_format_names_the_supported_ones(tiny_model_dir, tmp_path):
    corpus = tmp_path / "pairs.csv"
    corpus.write_text("text\nmitral stenosis\n")
    out = tmp_path / "index"
    result = runner.invoke(
        app, ["index", "build", "-m", str(tiny_model_dir("bert")), "--corpus", str(corpus), "--out", str(out)]
    )
    assert_clean_failure(result, out, fragments=["unsupported corpus format '.csv'", ".txt (one text a line)"])


def test_search_and_retrieval_import_no_web_stack():
    """`cardiolora.serve` loads FastAPI only when the app is asked for: index and retrieval code runs
    where the web stack is not installed (recipe_sweep.py on GPU images imports it normally now)."""
    code = (
        "import sys, cardiolora.serve, cardiolora.serve.search, cardiolora.evaluation.retrieval\n"
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'faiss') if m in sys.modules))\n"
        "from cardiolora.serve import create_app\n"
        "print('fastapi' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([{"id": "a", "text": ""}], "bad.jsonl:1"),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "duplicate id"),
        ([{"body": "x"}], "field 'text'"),
    ],
)
def test_bad_corpora_fail_cleanly(tiny_model_dir, write_jsonl, tmp_path, rows, fragment):
    corpus = write_jsonl("bad.jsonl", rows)
    out = tmp_path / "index"
    result = runner.invoke(
        app,
        [
            "index",
            "build",
            "--model",
            str(tiny_model_dir("bert")),
            "--corpus",
            str(corpus),
            "--out",
            str(out),
        ],
    )
    assert_clean_failure(result, out, fragments=[fragment])


def test_search_needs_an_index(tmp_path):
    result = runner.invoke(app, ["search", str(tmp_path), "query"])
    assert result.exit_code == 2 and "not a cardiolora index" in result.stderr
