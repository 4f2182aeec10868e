"""Hard negatives for pairs: texts close to the anchor that are not its positive.

Two miners:
- ``embedding``: sentence-transformers' ``mine_hard_negatives`` with a similarity band: candidates
  scoring above ``max_score`` with the anchor, or within ``relative_margin`` of the positive's score,
  are skipped, so paraphrases of the positive are not taken as negatives.
- ``bm25``: the top BM25 match of the anchor among the other pairs' positives (bm25s), skipping
  texts equal to the anchor or positive after normalization.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

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


def mine_embedding(
    pairs: Sequence[PairRecord],
    model: str,
    *,
    overwrite: bool = False,
    max_score: float = 0.85,
    relative_margin: float = 0.05,
    range_max: int = 50,
    batch_size: int = 64,
) -> list[PairRecord]:
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from cardiolora.embedding import Embedder

    todo = [p for p in pairs if overwrite or not p.negative]
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
        num_negatives=1,
        sampling_strategy="top",
        output_format="triplet",
        batch_size=batch_size,
        verbose=False,
    )
    found = {(row["anchor"], row["positive"]): row["negative"] for row in mined}
    return [
        replace(p, negative=found[(p.anchor, p.positive)])
        if (p.anchor, p.positive) in found and (overwrite or not p.negative)
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
