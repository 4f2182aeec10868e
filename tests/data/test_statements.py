"""The clinical statement bank: well-formed, and its pairs put meaning before words."""

from __future__ import annotations

import json

import pytest

from cardiolora.data.statements import (
    SPECIALTY_BRANCHES,
    Statement,
    StatementRecipe,
    bundled_statement_banks,
    load_bundled_statements,
    load_statements,
    statement_pairs,
)
from cardiolora.errors import InputError

ENTRY = Statement(
    "card-test-af",
    "cardiology",
    "arrhythmia",
    same=(
        "Irregularly irregular rhythm with no P waves on the ECG.",
        "The tracing shows fibrillating atria and chaotic RR intervals.",
        "Pulse irregularly irregular; no organised atrial activity on the strip.",
    ),
    different=(
        "Regular rhythm with a P wave before every QRS on the ECG.",
        "Sawtooth flutter waves at 300 per minute on the tracing.",
    ),
    term="Atrial fibrillation",
)
OTHER = Statement(
    "card-test-flutter",
    "cardiology",
    "valvular",
    same=("Severe narrowing of the aortic valve on echo.", "Aortic valve area 0.7 cm2 with a gradient of 50."),
    different=("Aortic valve opens fully on echo.",),
    term="Atrial septal aneurysm",
)


def test_the_bundled_bank_is_well_formed_and_covers_cardiology_and_replay():
    entries = load_bundled_statements()
    assert len(bundled_statement_banks()) >= 2
    assert len({e.id for e in entries}) == len(entries) >= 400
    by_branch = {branch: sum(e.branch == branch for e in entries) for branch in SPECIALTY_BRANCHES.values()}
    assert by_branch["cardiovascular"] >= 300 and all(count >= 10 for count in by_branch.values())
    for entry in entries:
        assert len(entry.same) >= 4 and len(entry.different) >= 3, entry.id
        if entry.term:  # at most one of the statements names its term
            assert sum(entry.term.lower() in s.lower() for s in entry.same) <= 1, entry.id


def test_paraphrase_pairs_take_the_look_alike_as_negative():
    pairs = statement_pairs([ENTRY, OTHER], StatementRecipe({"statement-paraphrase": 3}, seed=0))
    af = [p for p in pairs if p.group == "card-test-af"]
    assert len(af) == 3 and all(p.relation == "statement-paraphrase" for p in af)
    for pair in af:
        assert pair.anchor in ENTRY.same and pair.positive in ENTRY.same and pair.anchor != pair.positive
        assert pair.negative in ENTRY.different
        assert pair.branch == "cardiovascular" and pair.category == "arrhythmia"


def test_term_pairs_lead_a_description_to_its_name_and_away_from_a_look_alike_name():
    pairs = statement_pairs([ENTRY, OTHER], StatementRecipe({"statement-term": 2}, seed=0))
    af = [p for p in pairs if p.group == "card-test-af"]
    assert len(af) == 2 and {p.positive for p in af} == {"Atrial fibrillation"}
    # Another entry's term sharing a word ("Atrial"), of another category.
    assert {p.negative for p in af} == {"Atrial septal aneurysm"}


def test_term_statement_pairs_lead_a_name_to_its_description_and_away_from_a_look_alike_one():
    pairs = statement_pairs([ENTRY, OTHER], StatementRecipe({"term-statement": 2}, seed=0))
    af = [p for p in pairs if p.group == "card-test-af"]
    assert len(af) == 2 and {p.anchor for p in af} == {"Atrial fibrillation"}
    for pair in af:  # positive and negative are both sentences: only their meaning tells them apart
        assert pair.positive in ENTRY.same and pair.negative in ENTRY.different
    chaotic = next(p for p in af if p.positive.startswith("Irregularly"))
    assert chaotic.negative == "Regular rhythm with a P wave before every QRS on the ECG."  # most words shared


def test_vignette_pairs_join_several_statements_and_vet_each_before_joining():
    pairs = statement_pairs([ENTRY, OTHER], StatementRecipe({"vignette-term": 4}, seed=0))
    af = [p for p in pairs if p.group == "card-test-af"]
    assert len(af) == 4 and {p.positive for p in af} == {"Atrial fibrillation"}
    for pair in af:
        parts = [s for s in ENTRY.same if s in pair.anchor]
        assert len(parts) in (2, 3) and len(pair.anchor) == len(" ".join(parts))
        assert pair.negative == "Atrial septal aneurysm"
    # A statement the guard calls a leak is never joined into a longer text where it would hide.
    leaky = ENTRY.same[0]
    vetted = statement_pairs([ENTRY], StatementRecipe({"vignette-term": 4}, seed=0), leaks=lambda s: s == leaky)
    assert vetted and all(leaky not in p.anchor for p in vetted)
    assert not statement_pairs([ENTRY], StatementRecipe({"vignette-term": 4}), leaks=lambda s: s != leaky)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"specialty": "dermatology"}, "specialty"),
        ({"same": ["one"]}, "same"),
        ({"id": "Bad Id"}, "id"),
        ({"term": ""}, "term"),
    ],  # fmt: skip
)
def test_a_bad_entry_is_named_by_file_line_and_field(tmp_path, change, field):
    entry = {"id": "x-1", "specialty": "cardiology", "category": "ischemic", "same": ["a b", "c d"], "different": ["e"]}
    path = tmp_path / "bank.jsonl"
    path.write_text(json.dumps(entry) + "\n" + json.dumps({**entry, "id": "x-2", **change}) + "\n")
    with pytest.raises(InputError) as error:
        load_statements(path)
    assert error.value.line == 2 and error.value.field == field
