"""`cardiolora data ...`: files written on success; on bad input exit 2, one line, nothing written."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app

from ..helpers import assert_clean_failure, mode, snapshot

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
    # The input may be positional, as for `data corpus` and `data split`: a corpus by its text column.
    positional = tmp_path / "pairs-positional.jsonl"
    result = runner.invoke(app, ["data", "pairs", str(corpus), "--out", str(positional)])
    assert result.exit_code == 0, result.output
    assert positional.read_text() == pairs.read_text()

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
    for bad, fragment in (("four-seven", "FEWEST-MOST"), ("5-3", "1 <= fewest <= most"), ("0-2", "1 <= fewest")):
        assert_clean_failure(runner.invoke(app, ["data", "ontology", "--disease-findings", bad, "--out", str(out)]),
                             out, fragments=(fragment,))  # fmt: skip


# ------------------------------------------------------------------ issue 13: hostile names and files

PAIRS = [
    {"anchor": "Beta blockers lower mortality in heart failure", "positive": "Metoprolol improves survival in HFrEF",
     "group": "g1"},
    {"anchor": "Loop diuretics relieve congestion", "positive": "Furosemide treats fluid overload", "group": "g2"},
    {"anchor": "Amiodarone controls ventricular arrhythmias", "positive": "An antiarrhythmic drug for VT",
     "group": "g3"},
    {"anchor": "Statins lower LDL cholesterol", "positive": "Atorvastatin reduces cholesterol", "group": "g4"},
]  # fmt: skip


def _write_rows(path, rows, prefix=b""):
    path.write_bytes(prefix + "".join(json.dumps(r) + "\n" for r in rows).encode())
    return path


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_user_files_with_a_bom_are_read(tmp_path, kind):
    user = tmp_path / f"mine.{kind}"
    if kind == "jsonl":
        _write_rows(user, PAIRS[:2], prefix=b"\xef\xbb\xbf")
    else:  # what a spreadsheet's "CSV UTF-8" writes: BOM, CRLF
        user.write_bytes(b"\xef\xbb\xbfanchor,positive\r\n" + "".join(
            f'"{p["anchor"]}","{p["positive"]}"\r\n' for p in PAIRS[:2]).encode())  # fmt: skip
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--user-file", str(user), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["anchor"] for line in out.read_text().splitlines()] == [p["anchor"] for p in PAIRS[:2]]


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("bad.csv", b"anchor,positive\nMitral stenosis,Caf\xe9 au lait\n", (":2:", "not UTF-8", "byte 0xe9")),
        (
            "big.csv",
            b"anchor,positive\nx y,ok\nMitral stenosis," + b"x" * 200_000 + b"\n",
            (":3:", "field larger than field limit"),
        ),
        ("deep.jsonl", b"[" * 100_000 + b"\n", (":1:", "nested too deeply")),
        ("surrogate.jsonl", b'{"anchor": "\\udc80 x", "positive": "y z"}\n', (":1:", "surrogate")),
        ("latin.jsonl", '{"anchor": "Caf\xe9", "positive": "x"}\n'.encode("latin-1"), (":1:", "not UTF-8")),
    ],
)
def test_unreadable_user_files_fail_cleanly(tmp_path, name, content, fragments):
    user = tmp_path / name
    user.write_bytes(content)
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--user-file", str(user), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(str(user), *fragments))
    assert not (tmp_path / "pairs.datacard.json").exists()


def test_markdown_paragraph_that_is_only_an_image(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_bytes(b"\xef\xbb\xbf# Valve disease\n\n![an echo image](echo.png)\n\n[![badge](b.svg)](http://x)\n\n"
                      b"Aortic stenosis narrows the aortic valve opening.\n")  # fmt: skip
    out = tmp_path / "corpus.jsonl"
    result = runner.invoke(app, ["data", "corpus", str(notes), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == [
        "Aortic stenosis narrows the aortic valve opening."
    ]


def test_leak_guard_ignores_hyphens_and_punctuation(tmp_path, write_jsonl):
    excluded = write_jsonl("held-out.jsonl", [
        {"sentence1": "first-degree atrioventricular block", "sentence2": "left bundle branch block",
         "category": "similar"},
        {"sentence1": "Crohn's disease", "sentence2": "ulcerative colitis, chronic", "category": "similar"},
    ])  # fmt: skip
    rows = [
        {"anchor": "First degree atrioventricular block", "positive": "A prolonged PR interval on the ECG"},
        {"anchor": "A wide QRS complex with a notched R wave", "positive": "Left bundle-branch block"},
        {"anchor": "Crohns disease", "positive": "Transmural inflammation of the bowel wall"},
        {"anchor": "Ulcerative colitis (chronic)", "positive": "Inflammation of the colonic mucosa"},
        PAIRS[0],
    ]
    user = write_jsonl("mine.jsonl", rows)
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(
        app, ["data", "pairs", "--user-file", str(user), "--exclude-eval", str(excluded), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["anchor"] for line in out.read_text().splitlines()] == [PAIRS[0]["anchor"]]
    card = json.loads((tmp_path / "pairs.datacard.json").read_text())
    assert card["removed"]["evaluation_text"] == 4


def test_pairs_the_guard_drops_are_named_and_keep_leaks_keeps_them(tmp_path):
    """A user's own pairs that carry a bundled evaluation term are not dropped silently: each is named,
    with its reason, beside the output; --keep-leaks keeps them for data never evaluated on the bundled sets."""
    from cardiolora.evaluation import load_eval_set

    term = next(p.sentence1 for p in load_eval_set("cardiology").pairs if p.form == "term-term")
    user = tmp_path / "mine.csv"
    user.write_text(f"anchor,positive\n{term},a text of my own\nSomething else,another text of mine\n")
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--user-file", str(user), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1
    (dropped,) = [json.loads(line) for line in (tmp_path / "pairs.dropped.jsonl").read_text().splitlines()]
    assert dropped["anchor"] == term and dropped["reason"] == "evaluation_text" and dropped["kept"] is False
    assert "pairs.dropped.jsonl" in "".join(result.output.split())
    kept = tmp_path / "kept.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--user-file", str(user), "--out", str(kept), "--keep-leaks"])
    assert result.exit_code == 0, result.output
    assert len(kept.read_text().splitlines()) == 2
    card = json.loads((tmp_path / "kept.datacard.json").read_text())
    assert card["removed"]["kept_leaks"] == 1 and card["removed"]["evaluation_text"] == 0


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        ("anchor,positive\nMitral stenosis,Aortic stenosis,extra\n", 2, "3 fields where the header has 2"),
        ('anchor,positive\n"Mitral stenosis,Aortic stenosis\nA,B\n', 2, "double quote opened here is not closed"),
    ],
)
def test_csv_rows_that_do_not_fit_the_header_fail_at_their_line(tmp_path, content, line, fragment):
    user = tmp_path / "mine.csv"
    user.write_text(content)
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", "--user-file", str(user), "--out", str(out)])
    assert_clean_failure(result, out, fragments=(f"{user}:{line}", fragment))


def test_data_outputs_get_the_users_mode(tmp_path, write_jsonl):
    user = write_jsonl("mine.jsonl", PAIRS)
    out = tmp_path / "pairs.jsonl"
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["data", "pairs", "--user-file", str(user), "--out", str(out)])
        split = runner.invoke(
            app, ["data", "split", str(out), "--out", str(tmp_path / "splits"), "--validation", "0.3"]
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0 and split.exit_code == 0, result.output + split.output
    for path in (
        out,
        tmp_path / "pairs.datacard.json",
        tmp_path / "pairs.datacard.md",
        *(tmp_path / "splits").iterdir(),
    ):
        assert mode(path) == 0o644, path
    assert mode(tmp_path / "splits") == 0o755


def test_split_out_that_is_a_file_fails_cleanly(tmp_path, write_jsonl):
    pairs = write_jsonl("pairs.jsonl", PAIRS)
    target = tmp_path / "splits"
    target.write_text("my notes\n")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["data", "split", str(pairs), "--out", str(target)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "is not a directory" in result.stderr and str(target) in result.stderr
    assert snapshot(tmp_path) == before


def test_split_into_a_filled_directory_fails_before_work(tmp_path, write_jsonl):
    pairs = write_jsonl("pairs.jsonl", PAIRS)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.jsonl").write_text("old\n")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["data", "split", str(pairs), "--out", str(tmp_path / "splits")])
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert snapshot(tmp_path) == before


def test_split_writes_all_parts_or_none(tmp_path, write_jsonl):
    from cardiolora.data import load_pairs
    from cardiolora.data.splits import split_pairs

    words = [
        "aortic", "mitral", "tricuspid", "pulmonic", "septal", "apical", "basal", "lateral", "anterior", "inferior",
        "posterior", "systolic", "diastolic", "ejection", "murmur", "gallop", "thrill", "bruit", "edema", "ascites",
        "rales", "wheeze", "cough", "dyspnea", "syncope", "palpitation", "angina", "claudication", "cyanosis",
        "clubbing", "pallor", "fever", "rash", "jaundice", "tremor", "ataxia", "aphasia", "neuropathy", "myalgia",
        "arthralgia", "fatigue", "malaise", "anorexia", "nausea", "vomiting", "sepsis", "shock", "anemia",
    ]  # fmt: skip
    rows = [{"anchor": " ".join(words[4 * i : 4 * i + 2]), "positive": " ".join(words[4 * i + 2 : 4 * i + 4]),
             "group": f"x{i}"} for i in range(12)]  # fmt: skip
    pairs_file = write_jsonl("pairs.jsonl", rows)
    parts = split_pairs(load_pairs(pairs_file), validation=0.3, test=0.3, seed=0)
    assert all(parts.values()), "the fixture needs three non-empty parts"
    # Hold out every text of the last part: the leak guard empties it, and that part fails.
    held_out = write_jsonl("held-out.jsonl", [
        {"sentence1": p.anchor, "sentence2": p.positive, "category": "similar"} for p in parts["test"]
    ])  # fmt: skip
    out = tmp_path / "splits"
    before = snapshot(tmp_path)
    args = ["data", "split", str(pairs_file), "--out", str(out), "--validation", "0.3", "--test", "0.3"]
    result = runner.invoke(app, [*args, "--exclude-eval", str(held_out)])
    assert_clean_failure(result, out, fragments=(f"{out / 'test.jsonl'} (", "removed by the leak guard"))
    assert snapshot(tmp_path) == before  # no train.jsonl, no data card, no staging directory
    # An empty directory is filled, all parts at once; the rerun needs nothing cleaned up.
    out.mkdir()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{name}{suffix}"
        for name in ("train", "validation", "test")
        for suffix in (".jsonl", ".dropped.jsonl", ".datacard.json", ".datacard.md")
    )
    assert str(out / "train.jsonl") in result.stdout


def test_pairs_input_is_positional_and_told_apart_by_its_columns(tmp_path):
    user = tmp_path / "mine.jsonl"
    user.write_text(json.dumps({"anchor": "Sawtooth flutter waves", "positive": "Typical atrial flutter"}) + "\n")
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["data", "pairs", str(user), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["anchor"] == "Sawtooth flutter waves"
    twice = runner.invoke(
        app, ["data", "pairs", str(user), "--user-file", str(user), "--out", str(tmp_path / "b.jsonl")]
    )
    assert twice.exit_code == 2 and "give the input once" in twice.stderr
    neither = tmp_path / "neither.jsonl"
    neither.write_text(json.dumps({"question": "x"}) + "\n")
    result = runner.invoke(app, ["data", "pairs", str(neither), "--out", str(tmp_path / "c.jsonl")])
    assert_clean_failure(result, tmp_path / "c.jsonl", fragments=(f"{neither}:1:", "neither a pairs row"))


def test_mine_negatives_refuses_an_unknown_relation(tmp_path, write_jsonl):
    pairs = write_jsonl("pairs.jsonl", [{"anchor": "Mitral stenosis", "positive": "Narrowed mitral valve",
                                         "relation": "synonym"}])  # fmt: skip
    out = tmp_path / "mined.jsonl"
    result = runner.invoke(app, ["data", "mine-negatives", str(pairs), "--model", "minilm", "--relation", "sibling",
                                 "--out", str(out)])  # fmt: skip
    assert_clean_failure(result, out, fragments=("--relation sibling: no such relation", "synonym"))
    result = runner.invoke(app, ["data", "mine-negatives", str(pairs), "--method", "bm25", "--relation", "synonym",
                                 "--out", str(out)])  # fmt: skip
    assert_clean_failure(result, out, fragments=("--method embedding only",))
