"""`cardiolora data ...`: files written on success; on bad input exit 2, one line, nothing written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app

from ..helpers import assert_clean_failure

runner = CliRunner()


def test_corpus_then_neighbour_pairs_then_split(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text(
        "Heart failure with reduced ejection fraction needs guideline therapy. Beta blockers lower mortality "
        "in these patients. Diuretics relieve congestion and edema.\n\nAtrial flutter has a sawtooth pattern on "
        "the ECG. Ablation of the isthmus cures typical flutter in most patients.\n"
    )
    corpus = tmp_path / "corpus.jsonl"
    result = runner.invoke(app, ["data", "corpus", str(notes), "--out", str(corpus)])
    assert result.exit_code == 0, result.output
    assert len(corpus.read_text().splitlines()) == 5
    assert json.loads((tmp_path / "corpus.datacard.json").read_text())["written"] == 5

    pairs = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--corpus", str(corpus), "--out", str(pairs)])
    assert result.exit_code == 0, result.output
    assert len(pairs.read_text().splitlines()) == 3
    assert (tmp_path / "pairs.datacard.md").exists()

    # Group hashes depend on the (temporary) source path, so only the totals are fixed here.
    result = runner.invoke(app, ["data", "split", str(pairs), "--out", str(tmp_path / "splits"), "--validation", "0.4"])
    assert result.exit_code == 0, result.output
    written = [p for p in (tmp_path / "splits").glob("*.jsonl")]
    assert written and sum(len(p.read_text().splitlines()) for p in written) == 3


def test_user_csv_without_required_columns(tmp_path):
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text("question,answer\nx,y\n")
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--user-file", str(csv_file), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(f"{csv_file}:1:", "field 'anchor'"))


@pytest.mark.parametrize("content", [b"%PDF-1.4 garbage", b"\x00\x01\x02" * 100])
def test_unreadable_corpus_files(tmp_path, content):
    path = tmp_path / ("doc.pdf" if content.startswith(b"%PDF") else "doc.txt")
    path.write_bytes(content)
    out = tmp_path / "corpus.jsonl"
    result = runner.invoke(app, ["data", "corpus", str(path), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(str(path),))


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    out = tmp_path / "corpus.jsonl"
    assert_clean_failure(runner.invoke(app, ["data", "corpus", str(path), "--out", str(out)]), out,
                          fragments=("corpus is empty",))  # fmt: skip


def test_unreachable_paraphrase_endpoint(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": "Aortic stenosis narrows the aortic valve."}) + "\n")
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--corpus", str(corpus), "--method", "paraphrase",
                                 "--endpoint", "http://127.0.0.1:9/v1", "--out", str(out)])  # fmt: skip
    assert_clean_failure(result, out, fragments=("unreachable",))


def test_ontology_bad_options_fail_before_work(tmp_path):
    out = tmp_path / "pairs.jsonl"
    assert_clean_failure(runner.invoke(app, ["data", "ontology", "--weight", "cousin=2", "--out", str(out)]), out,
                          fragments=("unknown relation 'cousin'",))  # fmt: skip
    assert_clean_failure(runner.invoke(app, ["data", "ontology", "--exclude-eval", str(tmp_path / "x.jsonl"),
                                              "--out", str(out)]), out, fragments=("file not found",))  # fmt: skip
