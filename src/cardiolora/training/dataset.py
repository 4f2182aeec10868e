"""Pairs as the trainer's dataset: the columns each loss reads, and the label contract.

Ranking losses (in-batch negatives) get ``anchor``, ``positive`` and, when any pair has one or the
loss is a triplet loss, ``negative`` (a missing negative is another pair's positive, like an in-batch
negative). With the teacher term and teacher texts, a ``teacher`` column follows: everyday texts only
the teacher term sees. The absolute-cosine objectives get labelled pairs instead
(``sentence1``, ``sentence2``, ``score``).

The label column, when a loss needs one, holds per row ``[category id (-1: none), the positive's
cosine target, 1.0 for a replay row]``: the category id lets the loss mask same-category in-batch
negatives, the target grades relations (``loss.relation_targets``), and the replay flag says which
rows the teacher term keeps where the base model put them (see :mod:`cardiolora.training.losses`).
"""

from __future__ import annotations

import random

from cardiolora.data.records import PairRecord
from cardiolora.training.config import TrainConfig
from cardiolora.training.losses import needs_labels

# The dataset column of texts only the teacher term sees (after the ranked columns, before the label).
TEACHER_COLUMN = "teacher"


# The label column's first entries; with cached teacher embeddings the base vectors follow them.
LABEL_FIELDS = 3


def build_dataset(pairs: list[PairRecord], config: TrainConfig, base_encode=None):
    """Triplets for ranking losses (a missing negative is another pair's positive, like an in-batch
    negative); labelled pairs for the absolute-cosine objectives.

    ``base_encode`` (texts -> the base model's embeddings, as the training pass computes them) caches
    the teacher's targets in the label column (:func:`with_cached_teacher`): the base model's
    embeddings of the teacher texts and of the replay rows' texts do not change during a run, so they
    are computed once here instead of in a forward pass at every step."""
    from datasets import Dataset

    rng = random.Random(config.seed)
    positives = [p.positive for p in pairs]

    def negative_of(pair: PairRecord) -> str:
        if pair.negative:
            return pair.negative
        while True:
            candidate = rng.choice(positives)
            if candidate != pair.positive:
                return candidate

    if needs_labels(config.loss):
        left, right, score = [], [], []
        for pair in pairs:
            left += [pair.anchor, pair.anchor]
            right += [pair.positive, negative_of(pair)]
            score += [config.loss.positive_target, config.loss.negative_target]
        return Dataset.from_dict({"sentence1": left, "sentence2": right, "score": score})
    columns = {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}
    if config.loss.name.startswith("triplet") or any(p.negative for p in pairs):
        columns["negative"] = [negative_of(p) for p in pairs]
    if config.teacher_texts and config.loss.applied_teacher_weight:
        # Texts only the teacher sees, one a row, in a seeded order (each used about equally often).
        from cardiolora.data.general import teacher_texts

        texts = teacher_texts(config.teacher_texts)
        rng.shuffle(texts)
        columns[TEACHER_COLUMN] = length_matched(
            [texts[i % len(texts)] for i in range(len(pairs))],
            [max(len(text) for text in texts_of_row) for texts_of_row in zip(*columns.values(), strict=True)],
        )
    graded = config.loss.relation_targets and any(p.relation in config.loss.relation_targets for p in pairs)
    if config.loss.mask_same_category or graded or config.loss.applied_teacher_weight:
        # One label per row: [category id (-1: none), the row's positive cosine target, 1 for a replay
        # row (another organ system than the target branch: the teacher term keeps its texts in place)].
        ids = {name: i for i, name in enumerate(sorted({p.category for p in pairs if p.category}))}
        targets = config.loss.relation_targets
        columns["label"] = [
            [
                float(ids.get(p.category, -1)),
                targets.get(p.relation, config.loss.positive_target),
                float(config.loss.teacher_replay and is_replay(p, config.target_branch)),
            ]
            for p in pairs
        ]
        if base_encode is not None and config.loss.applied_teacher_weight:
            columns["label"] = with_cached_teacher(columns, base_encode)
    return Dataset.from_dict(columns)


def teacher_slots(column_names) -> list[str]:
    """The text columns whose base embeddings a cached label carries, in order: the teacher-only
    column first (when there is one), then the ranked columns (anchor, positive[, negative])."""
    ranked = [name for name in ("anchor", "positive", "negative") if name in column_names]
    return ([TEACHER_COLUMN] if TEACHER_COLUMN in column_names else []) + ranked


def with_cached_teacher(columns: dict[str, list], base_encode):
    """Each row's label followed by the base embeddings the teacher term compares with: every row's
    teacher-only text, and the replay rows' anchor, positive and negative (zeros on other rows,
    which the term does not use), as one ``(rows, 3 + slots x dimension)`` float32 array."""
    import numpy as np

    labels = np.asarray(columns["label"], dtype=np.float32)
    slots = teacher_slots(columns)
    replay = np.flatnonzero(labels[:, 2] > 0)
    blocks = []
    for name in slots:
        rows = np.arange(len(labels)) if name == TEACHER_COLUMN else replay
        vectors = np.asarray(base_encode([columns[name][i] for i in rows]), dtype=np.float32) if len(rows) else None
        block = None
        if vectors is not None:
            block = np.zeros((len(labels), vectors.shape[1]), dtype=np.float32)
            block[rows] = vectors
        blocks.append(block)
    dimension = next((b.shape[1] for b in blocks if b is not None), 0)
    blocks = [b if b is not None else np.zeros((len(labels), dimension), np.float32) for b in blocks]
    return np.concatenate([labels, *blocks], axis=1)


def length_matched(texts: list[str], row_lengths: list[int]) -> list[str]:
    """``texts`` reassigned to rows so that the longest text goes to the longest row, and so on.

    Why: sentence-transformers embeds a batch's columns in one forward pass padded to the longest
    text of any column, so a long teacher text beside a short pair pads every text of the batch to
    its length. The texts used, and how often, stay the same; only which row carries which changes
    (the teacher term averages over every row, so the pairing carries no signal)."""
    by_length = sorted(texts, key=len)
    rows = sorted(range(len(row_lengths)), key=row_lengths.__getitem__)
    matched = [""] * len(rows)
    for text, row in zip(by_length, rows, strict=True):
        matched[row] = text
    return matched


def is_replay(pair: PairRecord, target_branch: str | None) -> bool:
    """A pair of another organ system than the one the adapter is for."""
    return bool(target_branch and pair.branch and pair.branch != target_branch)
