"""The leak guard: no training text may be, or nearly be, a text of an evaluation set.

Exact matches are found on :func:`~cardiolora.data.text.guard_key` with its spaces removed (case,
spacing, hyphens, slashes, commas and apostrophes do not matter: "First degree atrioventricular
block" is "first-degree atrioventricular block", "Left bundle-branch block" is "left bundle branch
block" and "leftbundle branch block"); near duplicates ("Atrial fibrillations.", "atrial
fibrilation") by MinHash over character 4-grams of the guard key with locality-sensitive hashing
(datasketch), Jaccard >= ``threshold``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cardiolora.data.records import PairRecord
from cardiolora.data.text import guard_key, normalize_for_match

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


def minhash_of(shingles: Iterable[bytes], num_perm: int = NUM_PERM):
    from datasketch import MinHash

    minhash = MinHash(num_perm=num_perm, seed=1)
    minhash.update_batch(list(shingles))
    return minhash


@dataclass
class LeakGuard:
    """Texts that training must not contain: built from evaluation sets, queried per text."""

    threshold: float = 0.8
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from datasketch import MinHashLSH

        self._exact: set[str] = set()
        self._lsh = MinHashLSH(threshold=self.threshold, num_perm=NUM_PERM)
        self._shingles: dict[str, set[bytes]] = {}
        self._cache: dict[str, bool] = {}

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

    @classmethod
    def from_eval_sets(cls, eval_sets: Iterable[str | Path], threshold: float = 0.8) -> LeakGuard:
        from cardiolora.evaluation import load_eval_set

        guard = cls(threshold=threshold)
        for name in eval_sets:
            eval_set = load_eval_set(name)
            guard.add(eval_set.sentences(), source=f"{eval_set.name} ({eval_set.sha256[:12]})")
        return guard

    def leaks(self, text: str) -> bool:
        """True if ``text`` equals or nearly equals an evaluation text."""
        key = guard_key(text)
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

    def filter(self, pairs: Iterable[PairRecord]) -> tuple[list[PairRecord], int]:
        """Pairs with no leaking text, and how many were removed."""
        kept, removed = [], 0
        for pair in pairs:
            if any(self.leaks(text) for text in pair.texts()):
                removed += 1
            else:
                kept.append(pair)
        return kept, removed


def bundled_guard(extra: Iterable[str | Path] = (), threshold: float = 0.8) -> LeakGuard:
    """The guard every training dataset gets: all bundled evaluation sets plus ``extra`` files."""
    from cardiolora.evaluation import bundled_eval_sets

    return LeakGuard.from_eval_sets([*sorted(bundled_eval_sets()), *extra], threshold=threshold)
