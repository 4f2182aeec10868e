"""Hard negatives for pairs: texts close to the anchor that are not its positive.

Two miners:
- ``embedding``: sentence-transformers' ``mine_hard_negatives`` with a similarity band: candidates
  scoring above ``max_score`` with the anchor, or within ``relative_margin`` of the positive's score,
  are skipped, so paraphrases of the positive are not taken as negatives. A candidate that names the
  anchor's or the positive's concept is skipped too (:class:`_ConceptIndex`: the same term in a
  template, a synonym, or, where pairs carry a concept ``group`` as ontology and statement pairs
  do, any positive of the concept's pairs): a synonym the band let through is still a false negative.
  ``relations`` limits mining to some relations and keeps the others' negatives.
- ``bm25``: the top BM25 match of the anchor among the other pairs' positives (bm25s), skipping
  texts equal to the anchor or positive after normalization.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from cardiolora.data.leakage import spelling_key
from cardiolora.data.negation import template_core
from cardiolora.data.records import PairRecord
from cardiolora.data.text import normalize_for_match
from cardiolora.errors import CardioloraError

MINERS = ("embedding", "bm25")


def mine_bm25(pairs: Sequence[PairRecord], *, overwrite: bool = False, top_k: int = 10) -> list[PairRecord]:
    import bm25s

    corpus = sorted({p.positive for p in pairs}, key=str)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, show_progress=False), show_progress=False)
    todo = [p for p in pairs if overwrite or not p.negative]
    results, _ = retriever.retrieve(
        bm25s.tokenize([p.anchor for p in todo], show_progress=False), k=min(top_k, len(corpus)), show_progress=False
    )
    mined: dict[int, str] = {}
    for row, pair in enumerate(todo):
        excluded = {normalize_for_match(pair.anchor), normalize_for_match(pair.positive)}
        for index in results[row]:
            candidate = corpus[int(index)]
            if normalize_for_match(candidate) not in excluded:
                mined[id(pair)] = candidate
                break
    return [replace(p, negative=mined[id(p)]) if id(p) in mined else p for p in pairs]


class _ConceptIndex:
    """Which texts name one concept, or one the data already calls similar to it: the same term
    inside or outside cardiolora's templates ("Aortic medial fibrosis confirmed." is "Aortic medial
    fibrosis"), a concept's anchors and synonyms (its pairs' ``group``), and any positive of the
    concept's pairs (its parent, siblings, definition). The band of ``mine_hard_negatives`` compares
    scores only; this is the concept-level false-negative filter it cannot do."""

    def __init__(self, pairs: Sequence[PairRecord]) -> None:
        self.groups: dict[str, set[str]] = {}
        self.positives: dict[str, set[str]] = {}
        for pair in pairs:
            if pair.group:
                self.groups.setdefault(self.key(pair.anchor), set()).add(pair.group)
                self.positives.setdefault(pair.group, set()).add(self.key(pair.positive))
                if pair.relation == "synonym":
                    self.groups.setdefault(self.key(pair.positive), set()).add(pair.group)

    @staticmethod
    def key(text: str) -> str:
        # The leak guard's spelling key, of the term a template holds where it holds one.
        return spelling_key(template_core(text) or text)

    def __call__(self, candidate: str, anchor: str, positive: str, group: str | None) -> bool:
        """True if ``candidate`` names the concept of ``anchor`` or of ``positive``."""
        key = self.key(candidate)
        if key in (self.key(anchor), self.key(positive)):
            return True
        own = self.groups.get(self.key(anchor), set()) | self.groups.get(self.key(positive), set())
        if group:
            own.add(group)
        return bool(self.groups.get(key, set()) & own) or any(key in self.positives.get(g, ()) for g in own)


def _wanted(pair: PairRecord, overwrite: bool, relations: Collection[str] | None) -> bool:
    if relations is not None and pair.relation not in relations:
        return False
    return overwrite or not pair.negative


def mine_embedding(
    pairs: Sequence[PairRecord],
    model: str,
    *,
    overwrite: bool = False,
    relations: Collection[str] | None = None,
    max_score: float = 0.85,
    relative_margin: float = 0.05,
    range_max: int = 50,
    candidates: int = 5,
    batch_size: int = 64,
) -> list[PairRecord]:
    """``relations``: mine only pairs of these relations (all when None), keeping the others'
    negatives, e.g. the hand-written look-alikes of statement paraphrases. ``candidates``: how many
    in-band candidates to take per pair, the best one outside the anchor's concept wins."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from cardiolora.embedding import Embedder

    todo = [p for p in pairs if _wanted(p, overwrite, relations)]
    if not todo:
        return list(pairs)
    embedder = Embedder.load(model)
    dataset = Dataset.from_dict({"anchor": [p.anchor for p in todo], "positive": [p.positive for p in todo]})
    mined = mine_hard_negatives(
        dataset,
        embedder.model,
        corpus=sorted({p.positive for p in pairs}),
        range_max=range_max,
        max_score=max_score,
        relative_margin=relative_margin,
        num_negatives=candidates,
        sampling_strategy="top",
        output_format="triplet",
        batch_size=batch_size,
        verbose=False,
    )
    same_concept = _ConceptIndex(pairs)
    # "top" sampling gives each pair's candidates best first, one triplet per candidate.
    found: dict[tuple[str, str], str] = {}
    groups_of_pair = {(p.anchor, p.positive): p.group for p in todo}
    for row in mined:
        key = (row["anchor"], row["positive"])
        if key in found or same_concept(row["negative"], row["anchor"], row["positive"], groups_of_pair[key]):
            continue
        found[key] = row["negative"]
    return [
        replace(p, negative=found[(p.anchor, p.positive)])
        if (p.anchor, p.positive) in found and _wanted(p, overwrite, relations)
        else p
        for p in pairs
    ]


def mine_negatives(pairs: Sequence[PairRecord], method: str, model: str | None = None, **kwargs) -> list[PairRecord]:
    if method == "bm25":
        return mine_bm25(pairs, **kwargs)
    if method == "embedding":
        if not model:
            raise CardioloraError("--method embedding needs --model")
        return mine_embedding(pairs, model, **kwargs)
    raise CardioloraError(f"unknown mining method {method!r}; choose from {', '.join(MINERS)}")
