from __future__ import annotations

import pytest

from cardiolora.errors import InputError, UnknownNameError
from cardiolora.evaluation import bundled_eval_sets, load_eval_set

GOOD = {"sentence1": "Mitral stenosis", "sentence2": "Aortic stenosis", "category": "similar"}


def test_bundled_cardiology_set_has_what_the_study_needs():
    cardiology = load_eval_set("cardiology")
    counts = cardiology.counts()
    assert counts["similar"] >= 50 and counts["different"] >= 50
    assert counts["negation"] >= 25 and counts["paraphrase"] >= 25
    tests = cardiology.negation_tests()
    assert len(tests) >= 25
    # Every negation row has its paraphrase counterpart and vice versa.
    assert len(tests) == counts["negation"] == counts["paraphrase"]
    assert all(p.domain for p in cardiology.pairs)


@pytest.mark.parametrize("name", ["pulmonology", "nephrology"])
def test_bundled_transfer_sets(name):
    counts = load_eval_set(name).counts()
    assert counts["similar"] >= 20 and counts["different"] >= 20


@pytest.mark.parametrize("name", ["cardiology", "pulmonology", "nephrology"])
def test_bundled_sets_have_no_duplicate_or_self_pairs(name):
    pairs = load_eval_set(name).pairs
    keys = [(p.sentence1.lower(), p.sentence2.lower()) for p in pairs]
    assert len(set(keys)) == len(keys)
    assert all(p.sentence1.lower() != p.sentence2.lower() for p in pairs)
    # A pair is not both similar and different.
    categories = {}
    for p in pairs:
        categories.setdefault(frozenset((p.sentence1.lower(), p.sentence2.lower())), set()).add(p.category)
    assert not any({"similar", "different"} <= c for c in categories.values())


def test_bundled_names_and_hash(write_jsonl):
    assert {"cardiology", "pulmonology", "nephrology"} <= set(bundled_eval_sets())
    a = load_eval_set(write_jsonl("a.jsonl", [GOOD]))
    b = load_eval_set(write_jsonl("b.jsonl", [GOOD, GOOD]))
    assert a.sha256 != b.sha256 and len(a.sha256) == 64


@pytest.mark.parametrize(
    ("rows", "line", "field", "reason"),
    [
        ([GOOD, "{not json"], 2, None, "malformed JSON"),
        ([GOOD, "[1, 2]"], 2, None, "expected a JSON object"),
        ([{**GOOD, "category": "related"}], 1, "category", "unknown category 'related'"),
        ([GOOD, GOOD, {**GOOD, "sentence2": ""}], 3, "sentence2", "must not be empty"),
        ([{**GOOD, "sentence1": " \t "}], 1, "sentence1", "must not be empty"),
        ([{"sentence1": "a", "category": "similar"}], 1, "sentence2", "missing required field"),
        ([{**GOOD, "sentence1": 3}], 1, "sentence1", "must be a string"),
        ([{**GOOD, "domain": ""}], 1, "domain", "non-empty string"),
    ],
)
def test_bad_input_names_file_line_and_field(write_jsonl, rows, line, field, reason):
    path = write_jsonl("bad.jsonl", rows)
    with pytest.raises(InputError) as info:
        load_eval_set(path)
    error = info.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert reason in str(error) and str(error).startswith(f"{path}:{line}: ")


def test_missing_empty_and_unknown_sets(tmp_path, write_jsonl):
    with pytest.raises(InputError, match="file not found"):
        load_eval_set(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="empty"):
        load_eval_set(write_jsonl("empty.jsonl", ["", "  "]))
    with pytest.raises(UnknownNameError, match="did you mean 'cardiology'"):
        load_eval_set("cardiolgy")


def test_an_eval_set_saved_with_a_bom_loads(tmp_path):
    import json

    path = tmp_path / "mine.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(GOOD) + "\r\n").encode() * 2)
    loaded = load_eval_set(path)
    assert [p.sentence1 for p in loaded.pairs] == ["Mitral stenosis", "Mitral stenosis"]


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b'{"sentence1": "Caf\xe9"}\n', 1, "not UTF-8"),
        (b"[" * 100_000 + b"\n", 1, "nested too deeply"),
        (b'{"sentence1": "\\ud800", "sentence2": "x", "category": "similar"}\n', 1, "surrogate"),
    ],
)
def test_unreadable_eval_sets_name_file_and_line(tmp_path, content, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=reason) as info:
        load_eval_set(path)
    assert (info.value.path, info.value.line) == (str(path), line)
