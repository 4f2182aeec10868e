"""Clinical sentence templates: placing terms in sentences, and negating findings.

Negation pairs teach that "There is no pericardial effusion." is far from "There is a pericardial
effusion." although the words barely differ, while a true rewording stays close. Each template
states a finding, a rewording of it, and its negation; several phrasings of negation ("no",
"denies", "ruled out", "negative for", "absent") keep the model from keying on one word.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from cardiolora.data.text import as_clause, as_sentence_start

# (affirmed, paraphrase, negated); {x} is the finding placed mid-sentence.
NEGATION_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("There is {x}.", "{X} is present.", "There is no {x}."),
    ("The patient has {x}.", "{X} was found in this patient.", "The patient does not have {x}."),
    ("Findings are consistent with {x}.", "The findings indicate {x}.", "There is no evidence of {x}."),
    ("{X} is present.", "There is evidence of {x}.", "{X} is absent."),
    ("Positive for {x}.", "{X} confirmed.", "Negative for {x}."),
    ("The patient reports {x}.", "{X} is reported by the patient.", "The patient denies {x}."),
    ("{X} was diagnosed.", "A diagnosis of {x} was made.", "{X} was ruled out."),
    ("Imaging shows {x}.", "{X} is seen on imaging.", "Imaging shows no {x}."),
)

# Sentences a term is placed in for mixing terms with clinical sentences.
SENTENCE_TEMPLATES: tuple[str, ...] = (
    "The patient has {x}.",
    "History of {x}.",
    "Findings are consistent with {x}.",
    "Admitted with {x}.",
    "Diagnosis: {x}.",
    "{X} was diagnosed.",
    "Known {x}.",
    "Evaluation revealed {x}.",
)


def _fill(template: str, term: str) -> str:
    clause = as_clause(term)
    text = template.replace("{x}", clause).replace("{X}", as_sentence_start(term))
    return as_sentence_start(text)


def wrap_in_sentence(term: str, rng: random.Random, template: int | None = None) -> tuple[str, int]:
    """``term`` in a clinical sentence; returns the sentence and the template index used."""
    index = rng.randrange(len(SENTENCE_TEMPLATES)) if template is None else template
    return _fill(SENTENCE_TEMPLATES[index], term), index


def negation_triplet(term: str, rng: random.Random) -> tuple[str, str, str]:
    """(anchor, positive, negative) for a finding: half the time the negated form is the anchor,
    so the model learns both directions (the negation of a negation is the affirmation)."""
    first, second = rng.sample(range(len(NEGATION_TEMPLATES)), 2)
    affirmed, paraphrase, negated = (_fill(t, term) for t in NEGATION_TEMPLATES[first])
    if rng.random() < 0.5:
        return affirmed, paraphrase, negated
    # A negated anchor: its paraphrase is another negated phrasing, its negative the affirmation.
    return negated, _fill(NEGATION_TEMPLATES[second][2], term), affirmed


@lru_cache(maxsize=1)
def _template_patterns() -> tuple[re.Pattern[str], ...]:
    templates = {t for triple in NEGATION_TEMPLATES for t in triple} | set(SENTENCE_TEMPLATES)
    patterns = []
    # Longest first: "There is no {x}." must win over "There is {x}." (which would keep "no ...").
    for template in sorted(templates, key=len, reverse=True):
        body = re.escape(template).replace(r"\{x\}", "(?P<x>.+)").replace(r"\{X\}", "(?P<x>.+)")
        patterns.append(re.compile(rf"^\s*{body}\s*$", re.IGNORECASE | re.DOTALL))
    return tuple(patterns)


def template_core(text: str) -> str | None:
    """The term inside one of cardiolora's own sentence templates ("Known atrial fibrillation." ->
    "atrial fibrillation"), or None when ``text`` is in none of them. The leak guard compares this
    core too, so a template cannot carry an evaluation term into training unseen."""
    for pattern in _template_patterns():
        match = pattern.match(text)
        if match:
            return match.group("x").strip()
    return None
