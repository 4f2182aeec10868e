"""The bundled sets are instruments: nothing but meaning may separate their similar from their different pairs."""

from __future__ import annotations

import pytest

from cardiolora.evaluation.evalset import (
    FORMS,
    bundled_eval_sets,
    default_eval_sets,
    dev_set_names,
    form_balance_problems,
    load_eval_set,
    report_set_names,
)
from cardiolora.evaluation.normalisation import (
    bundled_normalisation_sets,
    load_normalisation_set,
    surface_normalisation,
)
from cardiolora.evaluation.surface import BALANCED, main, surface_baselines, word_count_score, word_overlap_score

BALANCED_SETS = [*report_set_names(), *dev_set_names()]


@pytest.mark.parametrize("name", BALANCED_SETS)
def test_no_surface_cue_scores_a_bundled_set(name):
    eval_set = load_eval_set(name)
    baselines = surface_baselines(eval_set)
    low, high = BALANCED
    assert all(low <= value <= high for value in baselines["all"].values()), baselines["all"]
    # Per form too, within a wider band (a form has a third of the pairs, so its AUCs are noisier).
    for form, values in baselines["forms"].items():
        assert all(0.35 <= value <= 0.65 for value in values.values()), (form, values)


@pytest.mark.parametrize("name", BALANCED_SETS)
def test_bundled_sets_are_form_balanced(name):
    eval_set = load_eval_set(name)
    assert form_balance_problems(eval_set) == []
    assert eval_set.forms() == list(FORMS)
    counts = {f: sum(1 for p in eval_set.pairs if p.form == f and p.category == "similar") for f in FORMS}
    assert min(counts.values()) >= 10, counts


def test_no_bundled_text_sits_in_a_training_template():
    from cardiolora.data.negation import template_core

    for name in BALANCED_SETS:
        found = [t for t in load_eval_set(name).sentences() if template_core(t) is not None]
        assert found == [], (name, found)


def _normalisation_texts(name: str) -> list[str]:
    norm_set = load_normalisation_set(name)
    return [q.description for q in norm_set.queries] + list(norm_set.vocabulary)


def test_dev_sets_share_no_text_with_test_sets():
    """Recipes are chosen on the dev sets: a text shared with a test set would tune them to it."""
    norm_names = sorted(bundled_normalisation_sets())
    test_texts = {t.casefold() for name in report_set_names() for t in load_eval_set(name).sentences()}
    test_texts |= {t.casefold() for n in norm_names if not n.endswith("-dev") for t in _normalisation_texts(n)}
    dev_texts = {name: load_eval_set(name).sentences() for name in dev_set_names()}
    dev_texts |= {f"normalisation {n}": _normalisation_texts(n) for n in norm_names if n.endswith("-dev")}
    for name, texts in dev_texts.items():
        shared = {t for t in texts if t.casefold() in test_texts}
        assert shared == set(), (name, sorted(shared)[:5])


def test_the_default_sets_are_the_test_sets_and_a_dev_target_gets_the_dev_sets():
    assert default_eval_sets() == ["cardiology", *(n for n in report_set_names() if n != "cardiology")]
    assert not any(n.endswith(("-dev", "-v1")) for n in default_eval_sets())
    assert default_eval_sets("cardiology-dev")[0] == "cardiology-dev"
    assert set(default_eval_sets("cardiology-dev")) == set(dev_set_names())
    assert {f"{n}-v1" for n in ("cardiology", "rheumatology", "general-english")} <= set(bundled_eval_sets())


def test_the_baselines_catch_a_set_that_word_count_can_score():
    """The earlier sets paired terms with long descriptions as similar and terms with terms as
    different: word count alone scored them, which is why they were rebuilt."""
    assert surface_baselines(load_eval_set("rheumatology-v1"))["all"]["word_count"] < 0.2
    assert surface_baselines(load_eval_set("cardiology-v1"))["all"]["word_count"] < BALANCED[0]
    assert main(["rheumatology-v1"]) == 1
    assert main(["cardiology"]) == 0


def test_surface_scores_read_only_the_words():
    assert word_count_score("Mitral stenosis", "Aortic stenosis") == 0
    assert word_count_score("Mitral stenosis", "A narrowed mitral valve orifice") == -3
    assert word_overlap_score("Mitral stenosis", "Aortic stenosis") == pytest.approx(1 / 3)
    assert word_overlap_score("the heart", "a lung") == 0.0  # stop words do not count


@pytest.mark.parametrize("name", sorted(bundled_normalisation_sets()))
def test_normalisation_sets_describe_without_naming(name):
    norm_set = load_normalisation_set(name)
    assert len(norm_set.queries) >= (80 if not name.endswith("-dev") else 40)
    assert len(set(norm_set.vocabulary)) == len(norm_set.vocabulary) > len({q.diagnosis for q in norm_set.queries})
    surface = surface_normalisation(norm_set)
    assert surface["bm25_top1"] <= 0.15 and surface["overlap_top1"] <= 0.15, surface
