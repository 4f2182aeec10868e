"""An evaluation set's texts in two dimensions, base model and adapted on the same axes.

The texts are embedded by the adapted model and, with its adapter switched off, by the base model;
one PCA (numpy's SVD; no new dependency) is fitted on both sets of vectors together, so the two
pictures share their axes and a point that moved between them moved in the embedding space. Each
text is coloured by its pair's clinical domain. Reports plot it (``figures/embedding_map.png``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cardiolora.evaluation.evalset import EvalSet


def text_domains(eval_set: EvalSet) -> dict[str, str]:
    """Each text's domain: that of the first pair it appears in ("other" where a pair has none)."""
    domains: dict[str, str] = {}
    for pair in eval_set.pairs:
        for text in (pair.sentence1, pair.sentence2):
            domains.setdefault(text, pair.domain or "other")
    return domains


def project(zero_shot: np.ndarray, adapted: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Both sets of vectors on the first two principal components of the two together; returns
    the two projections and the share of variance the components explain."""
    stacked = np.concatenate([zero_shot, adapted]).astype(np.float64)
    centered = stacked - stacked.mean(axis=0)
    _, singular, components = np.linalg.svd(centered, full_matrices=False)
    coordinates = centered @ components[:2].T
    explained = (singular[:2] ** 2 / max(float((singular**2).sum()), 1e-12)).tolist()
    return coordinates[: len(zero_shot)], coordinates[len(zero_shot) :], explained


def embedding_map(embedder, eval_set: EvalSet) -> dict[str, Any]:
    """The map of ``eval_set`` for ``embedder`` (an adapter loaded: base and adapted; none: the base
    model twice, the same points)."""
    texts = eval_set.sentences()
    adapted = embedder.encode(texts)
    with embedder.adapter_disabled():
        zero_shot = embedder.encode(texts)
    before, after, explained = project(zero_shot, adapted)
    domains = text_domains(eval_set)
    return {
        "eval_set": eval_set.name,
        "texts": texts,
        "domains": [domains[t] for t in texts],
        "zero_shot": np.round(before, 5).tolist(),
        "adapted": np.round(after, 5).tolist(),
        "explained_variance": explained,
        "moved": np.round(np.linalg.norm(after - before, axis=1), 5).tolist(),
    }
