"""The leak guard: no training pair may carry an evaluation set's texts, or join its pairs' concepts.

Three checks, each counted apart in the data card:

- **Texts** (``evaluation_text``): no training text may be, or nearly be, a text of an evaluation
  set, as it stands or with one of cardiolora's own sentence templates stripped ("Known atrial
  fibrillation." is "atrial fibrillation": :func:`~cardiolora.data.negation.template_core`).
  Exact matches are found on :func:`~cardiolora.data.text.guard_key` with its spaces removed (case,
  spacing, hyphens, slashes, commas and apostrophes do not matter: "First degree atrioventricular
  block" is "first-degree atrioventricular block", "Left bundle-branch block" is "left bundle branch
  block" and "leftbundle branch block"); near duplicates ("Atrial fibrillations.", "atrial
  fibrilation") by MinHash over character 4-grams of the guard key with locality-sensitive hashing
  (datasketch), Jaccard >= ``threshold``.
- **Pairs** (``evaluation_pair``): no training pair may join the two sides of an evaluation pair
  (either label), where a side is its text or any name or synonym of an ontology concept that text
  names (:meth:`LeakGuard.expand_with_concepts`): "RBBB" / "LBBB" joins "Right bundle branch block" /
  "Left bundle branch block" once the ontology says they are synonyms.
- **Concepts** (``evaluation_concepts``): an ontology concept whose name or a synonym is an evaluation
  *term* (a term-form text, a normalisation diagnosis or vocabulary term) is left out of the ontology
  pairs altogether (:meth:`LeakGuard.is_evaluation_concept`), with its synonyms and definition: the
  evaluation then measures concepts the adapter never saw, not remembered ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cardiolora.data.negation import template_core
from cardiolora.data.records import PairRecord
from cardiolora.data.text import guard_key, normalize_for_match

# Why a pair was dropped (data cards count each; ``NAME.dropped.jsonl`` names it per pair).
EVALUATION_TEXT = "evaluation_text"
EVALUATION_PAIR = "evaluation_pair"

NUM_PERM = 64


def char_shingles(text: str, size: int = 4) -> set[bytes]:
    """Character ``size``-grams of :func:`normalize_for_match` (what corpus deduplication compares)."""
    return shingles_of(normalize_for_match(text), size)


def shingles_of(normalized: str, size: int = 4) -> set[bytes]:
    """Character ``size``-grams of an already normalized text, with a space at either end."""
    normalized = f" {normalized} "
    if len(normalized) <= size:
        return {normalized.encode()}
    return {normalized[i : i + size].encode() for i in range(len(normalized) - size + 1)}


def _exact_key(key: str) -> str:
    # Spacing removed too: "bundle-branch", "bundle branch" and "bundlebranch" are one spelling.
    return key.replace(" ", "")


def spelling_key(text: str) -> str:
    """What the guard compares exactly: ``text``'s :func:`guard_key` without spaces ("First degree
    AV block" and "first-degree AV block" are one key)."""
    return _exact_key(guard_key(text))


def minhash_of(shingles: Iterable[bytes], num_perm: int = NUM_PERM):
    from datasketch import MinHash

    minhash = MinHash(num_perm=num_perm, seed=1)
    minhash.update_batch(list(shingles))
    return minhash


@dataclass
class LeakGuard:
    """Texts, pairs and terms that training must not contain: built from evaluation sets."""

    threshold: float = 0.8
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from datasketch import MinHashLSH

        self._exact: set[str] = set()
        self._lsh = MinHashLSH(threshold=self.threshold, num_perm=NUM_PERM)
        self._shingles: dict[str, set[bytes]] = {}
        self._cache: dict[str, bool] = {}
        self._terms: set[str] = set()
        # Each evaluation pair's two sides, each a set of exact keys (its text, then its synonyms).
        self._sides: list[tuple[set[str], set[str]]] = []
        self._pairs_of_key: dict[str, set[int]] = {}

    def add(self, texts: Iterable[str], source: str = "") -> None:
        for text in texts:
            key = guard_key(text)
            if not key or _exact_key(key) in self._exact:
                continue
            self._exact.add(_exact_key(key))
            shingles = shingles_of(key)
            self._shingles[key] = shingles
            self._lsh.insert(key, minhash_of(shingles))
        if source:
            self.sources.append(source)

    def add_terms(self, terms: Iterable[str]) -> None:
        """Evaluation terms: an ontology concept with one of them as name or synonym is left out."""
        self._terms.update(spelling_key(t) for t in terms if guard_key(t))

    def add_pairs(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Evaluation pairs: no training pair may join their two sides."""
        for left, right in pairs:
            sides = ({spelling_key(left)}, {spelling_key(right)})
            index = len(self._sides)
            self._sides.append(sides)
            for key in (*sides[0], *sides[1]):
                self._pairs_of_key.setdefault(key, set()).add(index)

    def add_eval_set(self, eval_set) -> None:
        """An evaluation set's texts, its pairs, and its terms (texts of term forms; every text of a
        set without forms, as the earlier sets were mostly terms)."""
        self.add(eval_set.sentences(), source=f"{eval_set.name} ({eval_set.sha256[:12]})")
        self.add_pairs((p.sentence1, p.sentence2) for p in eval_set.pairs)
        terms = []
        for pair in eval_set.pairs:
            if pair.form is None and pair.category in ("similar", "different"):
                terms += [pair.sentence1, pair.sentence2]
            elif pair.form == "term-term":
                terms += [pair.sentence1, pair.sentence2]
            elif pair.form == "term-description":
                terms.append(pair.sentence1)
        self.add_terms(terms)

    def add_normalisation_set(self, norm_set) -> None:
        """A normalisation set's descriptions and vocabulary (terms), and each description-diagnosis pair."""
        self.add(
            [q.description for q in norm_set.queries] + list(norm_set.vocabulary),
            source=f"{norm_set.name} ({norm_set.sha256[:12]})",
        )
        self.add_pairs((q.description, q.diagnosis) for q in norm_set.queries)
        self.add_terms(norm_set.vocabulary)

    @classmethod
    def from_eval_sets(cls, eval_sets: Iterable[str | Path], threshold: float = 0.8) -> LeakGuard:
        from cardiolora.evaluation import load_eval_set

        guard = cls(threshold=threshold)
        for name in eval_sets:
            guard.add_eval_set(load_eval_set(name))
        return guard

    def _key_leaks(self, key: str) -> bool:
        if not key:
            return False
        if _exact_key(key) in self._exact:
            return True
        if key not in self._cache:
            shingles = shingles_of(key)
            candidates = self._lsh.query(minhash_of(shingles))
            # LSH proposes; the exact Jaccard decides, so the threshold means what it says.
            self._cache[key] = any(
                len(shingles & self._shingles[c]) / len(shingles | self._shingles[c]) >= self.threshold
                for c in candidates
            )
        return self._cache[key]

    def leaks(self, text: str) -> bool:
        """True if ``text``, or the term inside one of cardiolora's templates, equals or nearly
        equals an evaluation text."""
        if self._key_leaks(guard_key(text)):
            return True
        core = template_core(text)
        return core is not None and self._key_leaks(guard_key(core))

    def _keys_of(self, text: str) -> set[str]:
        keys = {spelling_key(text)}
        core = template_core(text)
        if core is not None:
            keys.add(spelling_key(core))
        return keys

    def joins_evaluation_pair(self, pair: PairRecord) -> bool:
        """True if two texts of ``pair`` are the two sides of one evaluation pair (as texts, or as
        synonyms the guard learned from :meth:`expand_with_concepts`)."""
        keys = [self._keys_of(text) for text in pair.texts()]
        for i, left in enumerate(keys):
            candidates = set().union(*(self._pairs_of_key.get(k, set()) for k in left))
            if not candidates:
                continue
            for right in keys[i + 1 :]:
                for index in candidates:
                    one, two = self._sides[index]
                    if (left & one and right & two) or (left & two and right & one):
                        return True
        return False

    def is_evaluation_concept(self, names: Iterable[str]) -> bool:
        """True if any of a concept's ``names`` (its name and synonyms) is an evaluation term."""
        return any(spelling_key(name) in self._terms for name in names)

    def expand_with_concepts(self, concepts: Iterable) -> None:
        """Widen each evaluation pair's sides with every name and synonym of the ontology concepts
        that one of its texts names (objects with ``name`` and ``synonyms``)."""
        for concept in concepts:
            names = [concept.name, *concept.synonyms]
            keys = {spelling_key(n) for n in names} - {""}
            hits = set().union(*(self._pairs_of_key.get(k, set()) for k in keys))
            for index in hits:
                for side in self._sides[index]:
                    if side & keys:
                        side |= keys
                for key in keys:
                    self._pairs_of_key.setdefault(key, set()).add(index)

    def reason(self, pair: PairRecord) -> str | None:
        """Why ``pair`` must not be trained on (:data:`EVALUATION_TEXT`, :data:`EVALUATION_PAIR`), or None."""
        if any(self.leaks(text) for text in pair.texts()):
            return EVALUATION_TEXT
        if self.joins_evaluation_pair(pair):
            return EVALUATION_PAIR
        return None

    def split(self, pairs: Iterable[PairRecord]) -> tuple[list[PairRecord], list[tuple[PairRecord, str]]]:
        """The pairs the guard keeps, and the dropped ones with their reason."""
        kept, dropped = [], []
        for pair in pairs:
            why = self.reason(pair)
            if why is None:
                kept.append(pair)
            else:
                dropped.append((pair, why))
        return kept, dropped

    def filter(self, pairs: Iterable[PairRecord]) -> tuple[list[PairRecord], int]:
        """Pairs the guard keeps, and how many were removed."""
        kept, dropped = self.split(pairs)
        return kept, len(dropped)


def bundled_guard(extra: Iterable[str | Path] = (), threshold: float = 0.8) -> LeakGuard:
    """The guard every training dataset gets: all bundled evaluation sets (test, dev and the earlier
    ones), the bundled normalisation sets, plus ``extra`` files."""
    from cardiolora.evaluation import bundled_eval_sets
    from cardiolora.evaluation.normalisation import bundled_normalisation_sets, load_normalisation_set

    guard = LeakGuard.from_eval_sets([*sorted(bundled_eval_sets()), *extra], threshold=threshold)
    for name in sorted(bundled_normalisation_sets()):
        guard.add_normalisation_set(load_normalisation_set(name))
    return guard
