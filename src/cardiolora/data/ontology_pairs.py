"""Contrastive pairs from ontology concepts (:mod:`cardiolora.data.ontology`), drawn per relation
(see :data:`RELATIONS`), each with a negative from a category the anchor does not share.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial

from cardiolora.data.negation import negation_triplet, wrap_in_sentence
from cardiolora.data.ontology import GENERIC_NAME, Concept
from cardiolora.data.records import PairRecord
from cardiolora.data.text import normalize_for_match
from cardiolora.errors import CardioloraError, UnknownNameError

logger = logging.getLogger(__name__)

# relation -> what its positive is. Weights (pairs per concept) are chosen per build.
RELATIONS: dict[str, str] = {
    "synonym": "an exact synonym (HPO) or inclusion term (ICD-10-CM) of the anchor",
    "sibling": "a concept with the same parent in the same ontology and a shared category",
    "category": "any concept of a shared clinical category, from either ontology",
    "parent": "the anchor's parent concept, when it shares a category",
    "definition": "the anchor's HPO definition",
    "negation": "a finding sentence with a true paraphrase; the negated finding is the negative",
}
# The recommended recipe's weights (docs/recipes.md has the measurements behind them): siblings
# and synonyms as positives; pairs with other members of the concept's clinical category, which
# training aims at a lower cosine (``relation_targets = {category = 0.5}``, the default): trained
# as full positives such pairs pull unrelated members of a broad category together and lowered
# separation (rows 1-3), graded they raise it (rows 15-16, 26-27); negation pairs for negation
# sensitivity. Since 2026-12-07 fewer per concept than before (synonym 4, sibling 10, category 2,
# parent 2, negation 3): the statement bank and the disease presentations (on by default) teach
# clinical sentences, and with fewer term pairs beside them every form of the dev set rose
# (docs/recipes.md, "Meaning, not words", row bank-dis-o3) and one epoch fits 15 minutes.
DEFAULT_WEIGHTS: dict[str, float] = {
    "synonym": 2.0,
    "sibling": 3.0,
    "category": 1.0,
    "parent": 1.0,
    "definition": 2.0,
    "negation": 1.0,
}


@dataclass
class OntologyRecipe:
    """How pairs are drawn from concepts.

    Attributes:
        weights: relation -> pairs per concept (0.5: half of the concepts get one; 2: two each).
        hard_negative_rate: share of negatives chosen by word overlap with the anchor (BM25) among
            concepts of other categories, so that shared words stop meaning shared meaning.
        sentence_rate: share of texts placed in a clinical sentence template ("The patient has ...").
        definition_negatives: a definition pair's negative is the negative concept's definition (the
            positive's form: term -> which of two descriptions) rather than its name, which a model
            can tell from a definition by form alone; concepts without one fall back to the name.
        max_anchors_per_category: at most this many anchor concepts per (most specific) category, so
            that a large category does not drown the small ones; positives still come from all.
        seed: the random seed of every choice.
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    hard_negative_rate: float = 0.5
    sentence_rate: float = 0.3
    definition_negatives: bool = False
    max_anchors_per_category: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        for relation, weight in self.weights.items():
            if relation not in RELATIONS:
                raise UnknownNameError("relation", relation, RELATIONS)
            if weight < 0:
                raise CardioloraError(f"relation weight must be >= 0, got {relation}={weight}")
        for name in ("hard_negative_rate", "sentence_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise CardioloraError(f"{name} must be within [0, 1], got {getattr(self, name)}")


class _NegativeSampler:
    """Negatives from categories the anchor does not share: lexically close (BM25) or random."""

    def __init__(self, concepts: list[Concept], rng: random.Random, hard_rate: float) -> None:
        self.concepts = concepts
        self.rng = rng
        self.hard_rate = hard_rate
        self.retriever = None
        if hard_rate > 0 and len(concepts) > 1:
            import bm25s

            self.retriever = bm25s.BM25()
            self.retriever.index(bm25s.tokenize([c.name for c in concepts], show_progress=False), show_progress=False)
        self._cache: dict[str, list[int]] = {}

    def _lexical_neighbours(self, concept: Concept) -> list[int]:
        if concept.group not in self._cache:
            import bm25s

            k = min(50, len(self.concepts))
            results, _ = self.retriever.retrieve(
                bm25s.tokenize([concept.name], show_progress=False), k=k, show_progress=False
            )
            self._cache[concept.group] = [int(i) for i in results[0]]
        return self._cache[concept.group]

    def with_definition(self, anchor: Concept, drawn: Concept) -> Concept:
        """``drawn`` if it has a definition, else a lexically close (or random) one that has."""
        if drawn.definition:
            return drawn
        if self.retriever is not None:
            for i in self._lexical_neighbours(anchor):
                candidate = self.concepts[i]
                if candidate.definition and not (candidate.categories & anchor.categories):
                    return candidate
        for _ in range(50):
            candidate = self.rng.choice(self.concepts)
            if candidate.definition and not (candidate.categories & anchor.categories):
                return candidate
        return drawn if drawn.definition else replace(drawn, definition=drawn.name)

    def sample(self, anchor: Concept) -> Concept | None:
        if self.retriever is not None and self.rng.random() < self.hard_rate:
            candidates = [
                self.concepts[i]
                for i in self._lexical_neighbours(anchor)
                if not (self.concepts[i].categories & anchor.categories)
            ]
            if candidates:
                return candidates[0] if self.rng.random() < 0.5 else self.rng.choice(candidates[:10])
        for _ in range(50):
            candidate = self.rng.choice(self.concepts)
            if not (candidate.categories & anchor.categories):
                return candidate
        return None


def _merge_categories_by_text(concepts: list[Concept]) -> list[Concept]:
    """Copies whose categories include those of every concept sharing one of their texts.

    "Double aortic arch" is an aortic anomaly in HPO and a congenital malformation in ICD-10-CM;
    as a text it is both, so it must never be a negative for either category.
    """
    by_text: dict[str, set[str]] = defaultdict(set)
    for concept in concepts:
        for text in (concept.name, *concept.synonyms):
            by_text[normalize_for_match(text)].update(concept.categories)
    merged = []
    for concept in concepts:
        categories = set(concept.categories)
        for text in (concept.name, *concept.synonyms):
            categories |= by_text[normalize_for_match(text)]
        merged.append(replace(concept, categories=frozenset(categories)))
    return merged


def _balanced_anchors(concepts, primary_category, cap: int, rng: random.Random) -> list[Concept]:
    """At most ``cap`` anchors per primary category, sampled, in a stable order."""
    grouped: dict[str, list[Concept]] = defaultdict(list)
    for concept in concepts:
        grouped[primary_category(concept)].append(concept)
    anchors = []
    for name in sorted(grouped):
        members = grouped[name]
        anchors.extend(members if len(members) <= cap else rng.sample(members, cap))
    return anchors


def _count(weight: float, rng: random.Random) -> int:
    whole = int(weight)
    return whole + (1 if rng.random() < weight - whole else 0)


def build_ontology_pairs(concepts: list[Concept], recipe: OntologyRecipe | None = None) -> list[PairRecord]:
    """Draw pairs from ``concepts`` per ``recipe`` (duplicates are left for :func:`dedup_pairs`)."""
    recipe = recipe or OntologyRecipe()
    rng = random.Random(recipe.seed)
    concepts = _merge_categories_by_text(concepts)
    negatives = _NegativeSampler(concepts, rng, recipe.hard_negative_rate)
    by_id = {(c.source, c.id): c for c in concepts}
    by_category: dict[str, list[Concept]] = defaultdict(list)
    children: dict[tuple[str, str], list[Concept]] = defaultdict(list)
    for concept in concepts:
        for category in concept.categories:
            by_category[category].append(concept)
        for parent_id in concept.parent_ids:
            children[(concept.source, parent_id)].append(concept)

    def text_of(concept: Concept) -> str:
        return (
            rng.choice([concept.name, *concept.synonyms]) if concept.synonyms and rng.random() < 0.3 else concept.name
        )

    def maybe_sentence(text: str, template: int | None = None) -> tuple[str, int | None]:
        if rng.random() < recipe.sentence_rate:
            return wrap_in_sentence(text, rng, template)
        return text, None

    def primary_category(concept: Concept) -> str:
        return min(concept.categories, key=lambda name: (len(by_category[name]), name))

    anchors = _balanced_anchors(concepts, primary_category, recipe.max_anchors_per_category, rng)
    pairs: list[PairRecord] = []
    for concept in anchors:
        category = primary_category(concept)
        for relation, weight in recipe.weights.items():
            record = partial(
                PairRecord,
                source=concept.source,
                relation=relation,
                group=concept.group,
                category=category,
                branch=concept.branch,
            )
            for _ in range(_count(weight, rng)):
                positive: str | None = None
                anchor = concept.name
                if relation == "synonym" and concept.synonyms:
                    positive = rng.choice(concept.synonyms)
                elif relation == "sibling":
                    siblings = [
                        c
                        for p in concept.parent_ids
                        for c in children[(concept.source, p)]
                        if c is not concept and c.categories & concept.categories
                    ]
                    if siblings:
                        positive = text_of(rng.choice(siblings))
                elif relation == "category":
                    shared = [c for cat in sorted(concept.categories) for c in by_category[cat] if c is not concept]
                    if shared:
                        positive = text_of(rng.choice(shared))
                elif relation == "parent":
                    parents = [by_id.get((concept.source, p)) for p in concept.parent_ids]
                    parents = [
                        p for p in parents if p and p.categories & concept.categories and not GENERIC_NAME.match(p.name)
                    ]
                    if parents:
                        positive = rng.choice(parents).name
                elif relation == "definition" and concept.definition:
                    positive = concept.definition
                elif relation == "negation":
                    anchor, positive, negative_text = negation_triplet(concept.name, rng)
                    pairs.append(record(anchor, positive, negative_text))
                    continue
                if positive is None:
                    continue
                negative_concept = negatives.sample(concept)
                anchor_text, template = maybe_sentence(anchor)
                positive_text, _ = maybe_sentence(positive) if relation != "definition" else (positive, None)
                negative_text = None
                if relation == "definition" and recipe.definition_negatives and negative_concept is not None:
                    negative_text = negatives.with_definition(concept, negative_concept).definition
                elif negative_concept is not None:
                    # Half the time the negative shares the anchor's sentence template: the template
                    # must carry no signal of similarity.
                    same_template = template if template is not None and rng.random() < 0.5 else None
                    negative_text = (
                        wrap_in_sentence(text_of(negative_concept), rng, same_template)[0]
                        if same_template is not None
                        else maybe_sentence(text_of(negative_concept))[0]
                    )
                pairs.append(record(anchor_text, positive_text, negative_text))
    return pairs


def dedup_pairs(pairs: Iterable[PairRecord]) -> list[PairRecord]:
    """Drop pairs whose (anchor, positive) repeat, in either order, after normalization."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for pair in pairs:
        a, p = normalize_for_match(pair.anchor), normalize_for_match(pair.positive)
        key = (a, p) if a <= p else (p, a)
        if a == p or key in seen:
            continue
        seen.add(key)
        kept.append(pair)
    return kept
