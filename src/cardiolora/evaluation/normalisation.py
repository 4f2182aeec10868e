"""Concept normalisation: a described patient or condition -> its diagnosis, among a vocabulary.

A task is data plus a metric (as in MTEB): one JSONL file of two kinds of rows,

    {"description": "58-year-old man with crushing chest pain ... ", "diagnosis": "ST-elevation myocardial infarction"}
    {"term": "Atrial flutter"}

A description row is a query whose answer is its ``diagnosis``; a term row adds a distractor to the
vocabulary. The vocabulary is every diagnosis and every term, each once. The model embeds the
descriptions (query role) and the vocabulary (passage role) and ranks the vocabulary by cosine;
the metrics are top-1 and top-5 accuracy and the mean reciprocal rank of the right diagnosis over
the whole vocabulary.

The bundled sets (``resources/normalisation/``) describe without naming: a description shares
almost no word with its diagnosis, so BM25 and word overlap (printed beside every result, like the
pair sets' surface baselines) score near zero; the model has to know what the description means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cardiolora.errors import InputError, UnknownNameError
from cardiolora.io import iter_jsonl, sha256_file

if TYPE_CHECKING:
    from cardiolora.embedding import Embedder

SCHEMA = "cardiolora.normalisation/v1"


@dataclass(frozen=True)
class NormalisationQuery:
    description: str
    diagnosis: str
    line: int


@dataclass(frozen=True)
class NormalisationSet:
    name: str
    path: Path
    sha256: str
    queries: tuple[NormalisationQuery, ...]
    vocabulary: tuple[str, ...]

    def answer_positions(self) -> list[int]:
        position = {term: i for i, term in enumerate(self.vocabulary)}
        return [position[q.diagnosis] for q in self.queries]


def bundled_normalisation_sets() -> dict[str, Path]:
    root = resources.files("cardiolora") / "resources" / "normalisation"
    if not root.is_dir():
        return {}
    return {Path(str(entry)).stem: Path(str(entry)) for entry in root.iterdir() if entry.name.endswith(".jsonl")}


def _text(record: dict, field: str, path: Path, line: int) -> str:
    value = record[field]
    if not isinstance(value, str) or not value.strip():
        raise InputError("must be a non-empty string", path=path, line=line, field=field)
    return value.strip()


def load_normalisation_set(name_or_path: str | Path) -> NormalisationSet:
    """A bundled set by name (``cardiology``, ``cardiology-dev``) or a JSONL file, validated: a bad
    row fails naming the file, line and field."""
    bundled = bundled_normalisation_sets()
    text = str(name_or_path)
    if text in bundled:
        path, name = bundled[text], text
    else:
        path = Path(name_or_path).expanduser()
        name = path.stem
        if not path.exists():
            if path.suffix == "" and "/" not in text:
                raise UnknownNameError("normalisation set", text, bundled, hint="Or pass the path of a JSONL file.")
            raise InputError("file not found", path=path)
    queries: list[NormalisationQuery] = []
    vocabulary: dict[str, None] = {}
    for line, record in iter_jsonl(path):
        if "description" in record or "diagnosis" in record:
            for field in ("description", "diagnosis"):
                if field not in record:
                    raise InputError("missing required field", path=path, line=line, field=field)
            diagnosis = _text(record, "diagnosis", path, line)
            queries.append(NormalisationQuery(_text(record, "description", path, line), diagnosis, line))
            vocabulary.setdefault(diagnosis)
        elif "term" in record:
            vocabulary.setdefault(_text(record, "term", path, line))
        else:
            raise InputError("a row needs description and diagnosis, or term", path=path, line=line)
    if not queries:
        raise InputError("no description rows", path=path)
    return NormalisationSet(name, path, sha256_file(path), tuple(queries), tuple(vocabulary))


def ranks_of_answers(query_vectors: np.ndarray, term_vectors: np.ndarray, answers: Sequence[int]) -> np.ndarray:
    """The 1-based rank of each query's right term among all terms by cosine (ties: the right term
    counts behind every term that scores as high)."""
    scores = np.asarray(query_vectors, dtype=np.float32) @ np.asarray(term_vectors, dtype=np.float32).T
    right = scores[np.arange(len(answers)), answers]
    return (scores >= right[:, None]).sum(axis=1)


def metrics_of_ranks(ranks: np.ndarray) -> dict[str, float]:
    ranks = np.asarray(ranks)
    return {
        "top1": float((ranks <= 1).mean()),
        "top5": float((ranks <= 5).mean()),
        "mrr": float((1.0 / ranks).mean()),
    }


def surface_normalisation(norm_set: NormalisationSet) -> dict[str, float]:
    """Top-1 of two model-free rankers: BM25 of each description against the vocabulary (bm25s), and
    content-word overlap (Jaccard, as :mod:`cardiolora.evaluation.surface`). Ties: the right term ranks
    behind every term that scores as high."""
    import bm25s

    from cardiolora.evaluation.surface import word_overlap_score

    answers = norm_set.answer_positions()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(list(norm_set.vocabulary), stopwords="en", show_progress=False), show_progress=False)
    bm25 = []
    overlap = []
    for query, answer in zip(norm_set.queries, answers, strict=True):
        tokens = bm25s.tokenize(query.description, stopwords="en", show_progress=False, return_ids=False)[0]
        scores = retriever.get_scores(tokens) if tokens else np.zeros(len(norm_set.vocabulary))
        bm25.append(int((scores >= scores[answer]).sum()))
        words = np.array([word_overlap_score(query.description, term) for term in norm_set.vocabulary])
        overlap.append(int((words >= words[answer]).sum()))
    return {
        "bm25_top1": metrics_of_ranks(np.array(bm25))["top1"],
        "overlap_top1": metrics_of_ranks(np.array(overlap))["top1"],
    }


def normalisation_ranks(embedder: Embedder, norm_set: NormalisationSet, batch_size: int | None = None) -> np.ndarray:
    """Each description's rank of its diagnosis under ``embedder`` (descriptions as queries, the
    vocabulary as passages: the roles a search index uses)."""
    queries = embedder.encode([q.description for q in norm_set.queries], role="query", batch_size=batch_size)
    terms = embedder.encode(list(norm_set.vocabulary), role="passage", batch_size=batch_size)
    return ranks_of_answers(queries, terms, norm_set.answer_positions())


def normalisation_result(norm_set: NormalisationSet, ranks: np.ndarray) -> dict[str, Any]:
    """The result of one set from its ranks: metrics, the surface baselines and the ranks themselves."""
    return {
        "normalisation_set": {
            "name": norm_set.name,
            "path": str(norm_set.path),
            "sha256": norm_set.sha256,
            "n_queries": len(norm_set.queries),
            "n_terms": len(norm_set.vocabulary),
        },
        **metrics_of_ranks(ranks),
        "surface": surface_normalisation(norm_set),
        "ranks": [int(r) for r in ranks],
    }


def paired_top1_change(
    before_ranks: Sequence[int], after_ranks: Sequence[int], *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Top-1 and MRR of ``after`` minus ``before`` with a paired bootstrap 95% CI over descriptions."""
    before = np.asarray(before_ranks)
    after = np.asarray(after_ranks)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(before), (n_resamples, len(before)))
    out: dict[str, float] = {}
    for name, value in (("top1", lambda r: (r <= 1).mean(axis=-1)), ("mrr", lambda r: (1.0 / r).mean(axis=-1))):
        diffs = value(after[draws]) - value(before[draws])
        out[f"{name}_change"] = float(value(after) - value(before))
        out[f"{name}_change_ci_low"], out[f"{name}_change_ci_high"] = (
            float(x) for x in np.quantile(diffs, [0.025, 0.975])
        )
    return out


def evaluate_normalisation(
    embedder: Embedder, norm_sets: Sequence[NormalisationSet], *, zero_shot: bool = False, batch_size: int | None = None
) -> dict[str, Any]:
    """Every set's result; with ``zero_shot`` and an adapter, the base model's too (the adapter switched
    off) and the paired change of top-1 and MRR."""
    results = []
    for norm_set in norm_sets:
        ranks = normalisation_ranks(embedder, norm_set, batch_size)
        result = normalisation_result(norm_set, ranks)
        if zero_shot and embedder.adapter is not None:
            with embedder.adapter_disabled():
                base = normalisation_ranks(embedder, norm_set, batch_size)
            result["zero_shot"] = metrics_of_ranks(base) | {"ranks": [int(r) for r in base]}
            result["change"] = paired_top1_change(base, ranks)
        results.append(result)
    return {"schema": SCHEMA, "model": embedder.describe(), "results": results}
