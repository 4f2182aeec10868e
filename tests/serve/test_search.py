from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import ndcg_score
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.serve.search import retrieval_metrics
from tests.helpers import assert_clean_failure

runner = CliRunner()
CORPUS = [
    {"id": "mi", "text": "acute myocardial infarction"},
    {"id": "af", "text": "atrial fibrillation with rapid ventricular response"},
    {"id": "ms", "text": "mitral valve stenosis"},
    {"id": "pe", "text": "pericardial effusion"},
]


def test_metrics_on_a_hand_worked_ranking():
    ranked = [["a", "b", "c"], ["x", "y", "z"], ["p", "q", "r"]]
    relevant = [{"a"}, {"z"}, {"nothing"}]
    metrics = retrieval_metrics(ranked, relevant, ks=(1, 3))
    assert metrics["recall@1"] == pytest.approx(1 / 3)
    assert metrics["recall@3"] == pytest.approx(2 / 3)
    assert metrics["mrr@3"] == pytest.approx((1 + 1 / 3) / 3)
    # nDCG against scikit-learn's, query by query, with graded scores from the ranking.
    expected = []
    for ids, wanted in zip(ranked, relevant):
        truth = np.array([[1.0 if i in wanted else 0.0 for i in ids]])
        expected.append(ndcg_score(truth, np.array([[3.0, 2.0, 1.0]]), k=3) if truth.sum() else 0.0)
    assert metrics["ndcg@3"] == pytest.approx(np.mean(expected))


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_build_search_and_evaluate_through_the_cli(tiny_model_dir, write_jsonl, tmp_path, kind):
    corpus = write_jsonl("corpus.jsonl", CORPUS)
    out = tmp_path / f"index-{kind}"
    model = str(tiny_model_dir("bert"))
    built = runner.invoke(app, ["index", "build", "--model", model, "--corpus", str(corpus), "--out", str(out), "--kind", kind])
    assert built.exit_code == 0, built.output
    assert {p.name for p in out.iterdir()} == {"index.faiss", "meta.jsonl", "index.json"}
    found = runner.invoke(app, ["search", str(out), "mitral valve stenosis", "-k", "2", "--json"])
    assert found.exit_code == 0, found.output
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(hits) == 2 and hits[0]["id"] == "ms" and hits[0]["score"] >= hits[1]["score"]
    queries = write_jsonl("queries.jsonl", [{"query": "mitral valve stenosis", "relevant": ["ms"]},
                                            {"query": "pericardial effusion", "relevant": "pe"}])  # fmt: skip
    result_file = tmp_path / "retrieval.json"
    evaluated = runner.invoke(app, ["evaluate-retrieval", "--index", str(out), "--queries", str(queries), "-k", "1", "--out", str(result_file)])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(result_file.read_text())["metrics"]["recall@1"] == 1.0  # each query is its own document
    again = runner.invoke(app, ["index", "build", "--model", model, "--corpus", str(corpus), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_evaluation_set_as_a_retrieval_task(tiny_model_dir):
    result = runner.invoke(app, ["evaluate-retrieval", "--model", str(tiny_model_dir("bert")), "-e", "cardiology"])
    assert result.exit_code == 0, result.output
    assert "recall@10" in result.output and "mrr@10" in result.output


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [([{"id": "a", "text": ""}], "bad.jsonl:1"), ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "duplicate id"),
     ([{"body": "x"}], "field 'text'")],  # fmt: skip
)
def test_bad_corpora_fail_cleanly(tiny_model_dir, write_jsonl, tmp_path, rows, fragment):
    corpus = write_jsonl("bad.jsonl", rows)
    out = tmp_path / "index"
    result = runner.invoke(app, ["index", "build", "--model", str(tiny_model_dir("bert")), "--corpus", str(corpus), "--out", str(out)])
    assert_clean_failure(result, out, fragments=[fragment])


def test_search_needs_an_index(tmp_path):
    result = runner.invoke(app, ["search", str(tmp_path), "query"])
    assert result.exit_code == 2 and "not a cardiolora index" in result.stderr
