"""Surface baselines: what an evaluation set rewards without any model.

An evaluation set is an instrument. If the word-count difference between the two texts of a pair,
or the words they share, already tells similar pairs from different ones, the set measures its own
construction, not the model: a model that learned "a term and a long description are similar" would
score well without knowing any medicine. Every evaluation therefore prints, beside the model's
ROC-AUC, the ROC-AUC of three scores that read only the surface of the texts:

- ``word_count``: minus the absolute difference in word count (pairs of like length score higher);
- ``word_overlap``: Jaccard overlap of the two texts' content words (English stop words removed);
- ``bm25``: BM25 of each text as a query against the other as a document, averaged over both
  directions, with the set's own texts as the collection (bm25s, the library the data builders use).

Each is oriented so that "more alike on the surface" means "predicted similar": 0.5 is a set the cue
cannot score, above 0.5 a set where the cue helps, below 0.5 one where it misleads. The bundled sets
are built so that all three lie within :data:`BALANCED` (tests/evaluation/test_surface.py).

Run on any set: ``python -m cardiolora.evaluation.surface SET.jsonl ...`` (per form too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from cardiolora.evaluation.evalset import EvalPair, EvalSet
from cardiolora.evaluation.metrics import roc_auc

SURFACE_SCORES = ("word_count", "word_overlap", "bm25")
# The band a bundled set's surface baselines must lie in.
BALANCED = (0.40, 0.60)
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore)."""
    return _WORD.findall(text.lower())


def word_count_score(a: str, b: str) -> float:
    return -abs(len(words(a)) - len(words(b)))


def word_overlap_score(a: str, b: str) -> float:
    stop = _stop_words()
    left = {w for w in words(a) if w not in stop}
    right = {w for w in words(b) if w not in stop}
    union = left | right
    return len(left & right) / len(union) if union else 0.0


def bm25_scores(pairs: Sequence[EvalPair], texts: Sequence[str]) -> np.ndarray:
    """Symmetric BM25 of every pair, the collection being ``texts`` (IDF from them)."""
    import bm25s

    index = {text: i for i, text in enumerate(texts)}
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(list(texts), stopwords="en", show_progress=False), show_progress=False)
    scores = np.zeros(len(pairs))
    for k, pair in enumerate(pairs):
        total = 0.0
        for query, document in ((pair.sentence1, pair.sentence2), (pair.sentence2, pair.sentence1)):
            tokens = bm25s.tokenize(query, stopwords="en", show_progress=False, return_ids=False)[0]
            total += float(retriever.get_scores(tokens)[index[document]]) if tokens else 0.0
        scores[k] = total / 2
    return scores


def surface_scores(eval_set: EvalSet) -> dict[str, np.ndarray]:
    """Each surface score of every pair of the set, in file order."""
    pairs = eval_set.pairs
    return {
        "word_count": np.array([word_count_score(p.sentence1, p.sentence2) for p in pairs]),
        "word_overlap": np.array([word_overlap_score(p.sentence1, p.sentence2) for p in pairs]),
        "bm25": bm25_scores(pairs, eval_set.sentences()),
    }


def _aucs(scores: dict[str, np.ndarray], pairs: Sequence[EvalPair], keep) -> dict[str, float | None]:
    similar = [i for i, p in enumerate(pairs) if keep(p) and p.category == "similar"]
    different = [i for i, p in enumerate(pairs) if keep(p) and p.category == "different"]
    if not similar or not different:
        return dict.fromkeys(SURFACE_SCORES)
    return {name: roc_auc(values[similar], values[different]) for name, values in scores.items()}


def surface_baselines(eval_set: EvalSet) -> dict[str, object]:
    """ROC-AUC of each surface score on similar vs different pairs: ``{"all": {...}, "forms": {form: {...}}}``."""
    scores = surface_scores(eval_set)
    forms = sorted({p.form for p in eval_set.pairs if p.form})
    return {
        "all": _aucs(scores, eval_set.pairs, lambda p: True),
        "forms": {form: _aucs(scores, eval_set.pairs, lambda p, f=form: p.form == f) for form in forms},
    }


def is_balanced(baselines: dict[str, float | None], band: tuple[float, float] = BALANCED) -> bool:
    return all(value is None or band[0] <= value <= band[1] for value in baselines.values())


def main(argv: Sequence[str] | None = None) -> int:
    """Print each set's surface baselines, overall and per form; exit 1 if any overall one is
    outside :data:`BALANCED`."""
    import sys

    from cardiolora.evaluation.evalset import form_balance_problems, load_eval_set

    names = list(sys.argv[1:] if argv is None else argv)
    if not names:
        print("usage: python -m cardiolora.evaluation.surface SET [SET ...]", file=sys.stderr)
        return 2
    failed = False
    for name in names:
        eval_set = load_eval_set(name)
        baselines = surface_baselines(eval_set)
        rows = [("all", baselines["all"]), *baselines["forms"].items()]
        print(f"{eval_set.name}: {len(eval_set.pairs)} pairs")
        for label, values in rows:
            cells = "  ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in values.items())
            flag = "" if is_balanced(values) else "   <- outside 0.40-0.60"
            print(f"  {label:18s} {cells}{flag}")
        problems = form_balance_problems(eval_set)
        for problem in problems[:20]:
            print(f"  not form-balanced: {problem}")
        failed |= not is_balanced(baselines["all"]) or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
