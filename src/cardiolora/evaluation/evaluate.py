"""Evaluate an embedder on evaluation sets: cosines per pair, then the metrics of each set."""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cardiolora.evaluation.evalset import CATEGORIES, EvalSet
from cardiolora.evaluation.metrics import (
    category_stats,
    negation_scores,
    roc_auc,
    separation,
    separation_ci,
    tier,
)
from cardiolora.evaluation.retention import DEFAULT_TOLERANCE, RetentionRow, retention_table
from cardiolora.evaluation.surface import surface_baselines
from cardiolora.io import write_json_atomic
from cardiolora.versions import package_versions

if TYPE_CHECKING:
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation.normalisation import NormalisationSet

SCHEMA = "cardiolora.evaluation/v1"
# The set an adapter is for; every other set evaluated is a retention check.
DEFAULT_TARGET = "cardiology"
# Keys of one evaluation that are also copied to the top level of results.json (first set's values).
HEADLINE_KEYS = (
    "separation",
    "separation_ci",
    "auc",
    "negation_gap",
    "negation_accuracy",
    "tier",
    "categories",
    "forms",
    "surface",
    "domains",
    "eval_set",
)


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def cosines_of_pairs(encode: Callable[[list[str]], np.ndarray], eval_set: EvalSet) -> np.ndarray:
    """The cosine of every pair of ``eval_set``, in file order, given a function from texts to unit
    vectors; each distinct text is embedded once."""
    texts = eval_set.sentences()
    vectors = np.asarray(encode(texts), dtype=np.float32)
    index = {text: i for i, text in enumerate(texts)}
    left = vectors[[index[p.sentence1] for p in eval_set.pairs]]
    right = vectors[[index[p.sentence2] for p in eval_set.pairs]]
    return np.einsum("ij,ij->i", left, right).astype(np.float64)


def pair_cosines(embedder: Embedder, eval_set: EvalSet, batch_size: int | None = None) -> np.ndarray:
    """:func:`cosines_of_pairs` with an :class:`Embedder` and the model's similarity prompt."""
    return cosines_of_pairs(lambda texts: embedder.encode(texts, role="similarity", batch_size=batch_size), eval_set)


# Dimensions a study scores its headline set at beside the full vector (those below the model's).
TRUNCATION_DIMS = (256, 128, 64)


def truncation_curve(embedder: Embedder, eval_set: EvalSet, dims: Sequence[int] = TRUNCATION_DIMS) -> list[dict]:
    """Separation and ROC-AUC of ``eval_set`` at the model's full dimension and at each of ``dims``
    below it, keeping each vector's first dimensions and renormalising them, as ``cardiolora evaluate
    --dims N`` and the server's ``dimensions`` do (Matryoshka-style). The texts are embedded once."""
    full = np.asarray(embedder.encode(eval_set.sentences(), role="similarity"), dtype=np.float32)
    widths = [full.shape[1], *sorted({d for d in dims if 0 < d < full.shape[1]}, reverse=True)]
    categories = np.asarray([p.category for p in eval_set.pairs])
    rows = []
    for width in widths:
        vectors = full[:, :width]
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        cosines = cosines_of_pairs(lambda _texts, v=vectors: v, eval_set)
        similar, different = cosines[categories == "similar"], cosines[categories == "different"]
        rows.append(
            {
                "dims": int(width),
                "separation": _nan_to_none(separation(similar, different)),
                "auc": _nan_to_none(roc_auc(similar, different)),
            }
        )
    return rows


def compute_metrics(
    eval_set: EvalSet,
    cosines: np.ndarray,
    *,
    n_resamples: int = 5000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """All metrics of one evaluation set from its per-pair cosines (see README: results schema)."""
    cosines = np.asarray(cosines, dtype=np.float64)
    if cosines.shape != (len(eval_set.pairs),):
        raise ValueError(f"expected {len(eval_set.pairs)} cosines, got shape {cosines.shape}")
    by_category = {c: cosines[[i for i, p in enumerate(eval_set.pairs) if p.category == c]] for c in CATEGORIES}
    similar, different = by_category["similar"], by_category["different"]
    has_both = similar.size > 0 and different.size > 0
    sep = separation(similar, different) if has_both else float("nan")
    low, high = separation_ci(similar, different, n_resamples=n_resamples, confidence=confidence, seed=seed)

    cosine_of = {(p.sentence1, p.sentence2, p.category): cosines[i] for i, p in enumerate(eval_set.pairs)}
    tests = eval_set.negation_tests()
    paraphrase = np.array([cosine_of[(t.anchor, t.paraphrase, "paraphrase")] for t in tests])
    negation = np.array([cosine_of[(t.anchor, t.negation, "negation")] for t in tests])
    gap, accuracy = negation_scores(paraphrase, negation)

    def subset(keep) -> dict[str, Any]:
        """Separation and ROC-AUC of the similar and different pairs ``keep`` selects."""
        sims = np.array(
            [c for c, p in zip(cosines, eval_set.pairs, strict=True) if keep(p) and p.category == "similar"]
        )
        diffs = np.array(
            [c for c, p in zip(cosines, eval_set.pairs, strict=True) if keep(p) and p.category == "different"]
        )
        return {
            "separation": _nan_to_none(separation(sims, diffs)) if sims.size and diffs.size else None,
            "auc": _nan_to_none(roc_auc(sims, diffs)),
            "n_similar": int(sims.size),
            "n_different": int(diffs.size),
        }

    domains = {d: subset(lambda p, d=d: p.domain == d) for d in sorted({p.domain for p in eval_set.pairs if p.domain})}
    surface = cached_surface_baselines(eval_set)
    forms = {f: subset(lambda p, f=f: p.form == f) | {"surface": surface["forms"].get(f)} for f in eval_set.forms()}

    return {
        "eval_set": {
            "name": eval_set.name,
            "path": str(eval_set.path),
            "sha256": eval_set.sha256,
            "n_pairs": len(eval_set.pairs),
        },
        "separation": _nan_to_none(sep),
        "separation_ci": [_nan_to_none(low), _nan_to_none(high)],
        "tier": tier(sep),
        "auc": _nan_to_none(roc_auc(similar, different)),
        "negation_gap": _nan_to_none(gap),
        "negation_accuracy": _nan_to_none(accuracy),
        "n_negation_tests": len(tests),
        "categories": {c: category_stats(v).as_dict() for c, v in by_category.items() if v.size},
        "forms": forms,
        "surface": surface["all"],
        "domains": domains,
        "pair_cosines": [float(c) for c in cosines],
        "pair_categories": [p.category for p in eval_set.pairs],
    }


_SURFACE_CACHE: dict[tuple[str, str], dict[str, Any]] = {}


def cached_surface_baselines(eval_set: EvalSet) -> dict[str, Any]:
    """:func:`~cardiolora.evaluation.surface.surface_baselines`, computed once per set and content
    (they do not depend on the model; a run evaluates the same sets many times)."""
    key = (str(eval_set.path), eval_set.sha256)
    if key not in _SURFACE_CACHE:
        _SURFACE_CACHE[key] = surface_baselines(eval_set)
    return _SURFACE_CACHE[key]


@dataclass
class EvaluationReport:
    """The evaluations of one model (and adapter) on one or more sets, as saved to results.json.

    With an adapter, ``zero_shot`` holds the same sets evaluated by the base model and
    :meth:`retention` compares the two on every set but the ``target`` one."""

    model: dict[str, Any]
    evaluations: list[dict[str, Any]]
    settings: dict[str, Any]
    zero_shot: list[dict[str, Any]] | None = None
    target: str | None = None
    # Concept-normalisation results (cardiolora.evaluation.normalisation), each with the base model's
    # ranks and the paired change beside it when ``zero_shot`` was asked for with an adapter.
    normalisation: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=package_versions)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    command: str = field(
        default_factory=lambda: " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))
    )

    def retention(self, tolerance: float = DEFAULT_TOLERANCE) -> list[RetentionRow]:
        """Zero-shot against adapted on every non-target set; empty without a zero-shot evaluation."""
        if not self.zero_shot:
            return []
        return retention_table(self.zero_shot, self.evaluations, target=self.target or (), tolerance=tolerance)

    def to_dict(self) -> dict[str, Any]:
        headline = {k: self.evaluations[0][k] for k in HEADLINE_KEYS} if self.evaluations else {}
        extra: dict[str, Any] = {}
        if self.zero_shot is not None:
            extra = {
                "target": self.target,
                "zero_shot": self.zero_shot,
                "retention": [row.to_dict() for row in self.retention()],
            }
        return {
            "schema": SCHEMA,
            **headline,
            "model": self.model,
            "adapter": self.model.get("adapter"),
            "evaluations": self.evaluations,
            **extra,
            **({"normalisation": self.normalisation} if self.normalisation else {}),
            "settings": self.settings,
            "versions": self.versions,
            "created": self.created,
            "command": self.command,
        }

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvaluationReport:
        """A report from its :meth:`to_dict` (results.json)."""
        return cls(
            model=values["model"],
            evaluations=values["evaluations"],
            settings=values["settings"],
            zero_shot=values.get("zero_shot"),
            target=values.get("target"),
            normalisation=values.get("normalisation") or [],
            versions=values.get("versions") or {},
            created=values.get("created", ""),
            command=values.get("command", ""),
        )


def evaluate_embedder(
    embedder: Embedder,
    eval_sets: list[EvalSet],
    *,
    n_resamples: int = 5000,
    confidence: float = 0.95,
    seed: int = 0,
    batch_size: int | None = None,
    zero_shot: bool = False,
    target: str | None = DEFAULT_TARGET,
    normalisation_sets: Sequence[NormalisationSet] = (),
    progress: Callable[[str, int, int], None] | None = None,
) -> EvaluationReport:
    """Evaluate one loaded embedder on every set (the model is loaded once for all of them), and on
    the concept-normalisation sets.

    ``zero_shot=True`` with an adapter also evaluates the base model (the adapter switched off) for
    the retention table of every set but ``target``, and beside each normalisation result.
    ``progress(what, done, total)`` hears of each set before it is evaluated."""
    from cardiolora.evaluation.normalisation import evaluate_normalisation

    with_base = zero_shot and embedder.adapter is not None
    total = len(eval_sets) * (2 if with_base else 1) + (1 if normalisation_sets else 0)
    done = 0

    def evaluate_all(who: str) -> list[dict[str, Any]]:
        nonlocal done
        results = []
        for eval_set in eval_sets:
            if progress is not None:
                progress(f"{eval_set.name} ({who})", done, total)
            results.append(
                compute_metrics(
                    eval_set,
                    pair_cosines(embedder, eval_set, batch_size),
                    n_resamples=n_resamples,
                    confidence=confidence,
                    seed=seed,
                )
            )
            done += 1
        return results

    base = None
    if with_base:
        with embedder.adapter_disabled():
            base = evaluate_all("base model")
    evaluations = evaluate_all("adapted" if embedder.adapter is not None else embedder.spec.name)
    settings = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed, "ci_method": "percentile"}
    if normalisation_sets and progress is not None:
        progress("concept normalisation", done, total)
    normalisation = (
        evaluate_normalisation(embedder, normalisation_sets, zero_shot=zero_shot, batch_size=batch_size)["results"]
        if normalisation_sets
        else []
    )
    return EvaluationReport(
        model=embedder.describe(),
        evaluations=evaluations,
        settings=settings,
        zero_shot=base,
        target=target if base is not None else None,
        normalisation=normalisation,
    )
