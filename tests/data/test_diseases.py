"""Sentence-level pairs from HPO's disease annotations: names cleaned, descriptions that describe
without naming, negatives that share words but not meaning."""

from __future__ import annotations

import pytest

from cardiolora.data.diseases import (
    Disease,
    DiseasePairBuilder,
    DiseaseRecipe,
    _content_words,
    category_pools,
    clean_disease_name,
    read_annotations,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Cardiomyopathy, dilated, 1A", "Dilated cardiomyopathy"),
        ("Atrial fibrillation, familial, 3", "Familial atrial fibrillation"),
        ("Long QT syndrome 2", "Long QT syndrome"),
        ("Aortic aneurysm, familial thoracic 6", "Familial thoracic aortic aneurysm"),
        ("Atrial fibrillation 8, susceptibility to", "Atrial fibrillation"),
        ("Spastic paraplegia 3, autosomal dominant", "Spastic paraplegia"),
        ("Charcot-Marie-Tooth disease, axonal, type 2Q", "Axonal charcot-Marie-Tooth disease"),
        ("Familial atrial fibrillation", "Familial atrial fibrillation"),
        ("46,XY sex reversal 10", None),
    ],
)
def test_disease_names_read_as_a_clinician_says_them(raw, clean):
    assert clean_disease_name(raw) == clean


def test_annotations_merge_by_name_and_keep_frequencies(tmp_path):
    columns = "database_id disease_name qualifier hpo_id reference evidence onset frequency sex modifier aspect"
    columns += " biocuration"
    header = "\t".join(columns.split())
    rows = [
        "OMIM:1\tLong QT syndrome 1\t\tHP:0001657\tPMID:1\tPCS\t\tHP:0040281\t\t\tP\tx",
        "OMIM:2\tLong QT syndrome 2\t\tHP:0001279\tPMID:1\tPCS\t\t3/10\t\t\tP\tx",
        "OMIM:2\tLong QT syndrome 2\tNOT\tHP:0001644\tPMID:1\tPCS\t\t\t\t\tP\tx",  # excluded: not a phenotype
        "OMIM:2\tLong QT syndrome 2\t\tHP:0011463\tPMID:1\tPCS\t\t\t\t\tC\tx",  # childhood onset
        "OMIM:3\tLong QT syndrome 3\t\tHP:0001657\tPMID:1\tPCS\t\t20%\t\t\tP\tx",
    ]
    path = tmp_path / "phenotype.hpoa"
    path.write_text("#description: test\n" + header + "\n" + "\n".join(rows) + "\n")
    (disease,) = read_annotations(path)
    assert disease.name == "Long QT syndrome" and disease.ids == ["OMIM:1", "OMIM:2", "OMIM:3"]
    assert disease.phenotypes == {"HP:0001657": 0.9, "HP:0001279": 0.3}  # the larger share of the two kept
    assert disease.onset == "child"


LONG_QT = Disease(
    "Long QT syndrome",
    phenotypes={"HP:0001657": 0.9, "HP:0001279": 0.5, "HP:0001645": 0.2, "HP:0004756": 0.3, "HP:0001962": 0.5},
    branch="cardiovascular",
    category="rhythm-conduction",
)
MARFAN = Disease(
    "Marfan syndrome",
    phenotypes={"HP:0002616": 0.8, "HP:0001519": 0.7, "HP:0001166": 0.9, "HP:0001083": 0.6, "HP:0001279": 0.05},
    branch="cardiovascular",
    category="arterial-aortic",
)
ASTHMA = Disease(
    "Asthma",
    phenotypes={"HP:0002099": 0.9, "HP:0002094": 0.9, "HP:0030828": 0.8, "HP:0012735": 0.7},
    branch="respiratory",
)


@pytest.fixture(scope="module")
def builder():
    recipe = DiseaseRecipe(weights={"presentation": 3, "presentation-pair": 2, "finding-swap": 3}, seed=1)
    return DiseasePairBuilder([LONG_QT, MARFAN, ASTHMA], recipe)


def test_a_presentation_describes_without_naming(builder):
    pairs = builder.pairs_of(LONG_QT)
    presentations = [p for p in pairs if p.relation == "presentation"]
    assert len(presentations) == 3 and {p.positive for p in presentations} == {"Long QT syndrome"}
    for pair in presentations:
        # Never "prolonged QT interval" (shares "QT" with the name): the description must describe.
        assert not _content_words(pair.anchor) & _content_words("Long QT syndrome"), pair.anchor
        assert pair.negative and pair.negative != pair.positive  # another disease's name
    assert all(p.group == LONG_QT.group and p.branch == "cardiovascular" for p in pairs)


def test_a_recipe_sets_how_many_findings_describe_a_patient(builder):
    def counts(findings):
        builder.recipe = DiseaseRecipe(findings=findings, seed=1)
        return {len(builder._draw_findings(MARFAN)) for _ in range(30)}

    recipe, state = builder.recipe, builder.rng.getstate()  # the shared builder is left as it was
    try:
        usable = len(builder.usable(MARFAN))
        assert usable >= 4
        assert counts((2, 3)) == {2, 3}
        assert counts((4, 7)) == set(range(4, usable + 1))  # never more than the disease has
    finally:
        builder.recipe = recipe
        builder.rng.setstate(state)


def test_a_finding_swap_negative_keeps_the_frame_and_changes_one_finding(builder):
    swaps = [p for p in builder.pairs_of(MARFAN) if p.relation == "finding-swap"]
    assert swaps
    for pair in swaps:
        if pair.negative is None:
            continue
        anchor_words, negative_words = pair.anchor.split(), pair.negative.split()
        # Same frame and the other findings: most words shared; but not the same text.
        assert pair.negative != pair.anchor
        assert len(set(anchor_words) & set(negative_words)) >= len(set(anchor_words)) // 2
    assert any(p.negative for p in swaps)


def test_a_presentation_pair_negative_is_another_category(builder):
    pairs = [p for p in builder.pairs_of(LONG_QT) if p.relation == "presentation-pair"]
    assert pairs and all(p.positive != p.anchor for p in pairs)
    # Negatives come from Marfan (another cardiovascular category) or asthma (another organ system).
    assert all(p.negative for p in pairs)


def test_category_pools_group_a_branch_by_clinical_category():
    from cardiolora.data.ontology import Concept

    concepts = [
        Concept("HP:0001657", "hpo", "Prolonged QT interval", categories=frozenset({"rhythm-conduction"}),
                branch="cardiovascular"),
        Concept("HP:0004756", "hpo", "Ventricular tachycardia", categories=frozenset({"rhythm-conduction"}),
                branch="cardiovascular"),
        Concept("I49.9", "icd10cm", "Cardiac arrhythmia", categories=frozenset({"rhythm-conduction"}),
                branch="cardiovascular"),
    ]  # fmt: skip
    (pool,) = category_pools(concepts)
    assert pool.category == "rhythm-conduction" and set(pool.phenotypes) == {"HP:0001657", "HP:0004756"}
