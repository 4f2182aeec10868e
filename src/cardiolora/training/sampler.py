"""Batches of texts of similar length, with no text twice in a batch.

A batch is padded to its longest text. Ontology pairs are short (a median of about 10 tokens) with a
few long definitions, so random batches of 32 carry about 2.4 times the tokens of their texts
(``docs/experiments/token_lengths.py``); on a CPU every padding token costs as much as a real one.
sentence-transformers' :class:`NoDuplicatesBatchSampler` (needed by in-batch-negative losses) has no
length grouping and transformers' ``group_by_length`` does not apply to its trainer, hence this
subclass: the shuffled rows are cut into windows of ``window`` batches, each window is sorted by
length before the no-duplicates batching, and the batches are shuffled again, so each batch is
drawn from a random slice of the data and the order of lengths carries no signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

# Batches per sorting window: 16 batches of 32 cut padding from 2.4x to 1.33x the real tokens.
DEFAULT_WINDOW = 16


class LengthGroupedNoDuplicatesBatchSampler(NoDuplicatesBatchSampler):
    """:class:`NoDuplicatesBatchSampler` whose batches hold rows of similar length (longest text of
    the row, in characters), drawn from windows of ``window`` batches of a random permutation."""

    window: int = DEFAULT_WINDOW

    def __init__(self, dataset, batch_size: int, drop_last: bool, **kwargs) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, **kwargs)
        columns = [c for c in self.dataset.column_names if isinstance(self.dataset[0][c], str)]
        lengths = np.zeros(len(self.dataset), dtype=np.int64)
        for column in columns:
            lengths = np.maximum(lengths, np.fromiter((len(t or "") for t in self.dataset[column]), dtype=np.int64))
        self.lengths = lengths

    def _iter_one_pass(self, get_sample_values: Callable, has_overlap: Callable[..., bool]) -> Iterator[list[int]]:
        order = torch.randperm(len(self.dataset), generator=self.generator).numpy()
        span = self.window * self.batch_size
        batches: list[list[int]] = []
        carried: list[int] = []  # rows a window could not place without a duplicate go to the next one
        for start in range(0, len(order), span):
            window = order[start : start + span]
            window = [*carried, *window[np.argsort(-self.lengths[window], kind="stable")]]
            carried = []
            batch, values = [], set()
            for index in window:
                index = int(index)
                sample = get_sample_values(index)
                if has_overlap(sample, values):
                    carried.append(index)
                    continue
                batch.append(index)
                values.update(sample)
                if len(batch) == self.batch_size:
                    batches.append(batch)
                    batch, values = [], set()
            carried = [*batch, *carried]
        # What is left: batches without duplicates, or one last partial batch.
        while carried:
            batch, values, rest = [], set(), []
            for index in carried:
                sample = get_sample_values(index)
                if len(batch) < self.batch_size and not has_overlap(sample, values):
                    batch.append(index)
                    values.update(sample)
                else:
                    rest.append(index)
            if len(batch) == self.batch_size or not self.drop_last:
                batches.append(batch)
            carried = rest
        for position in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[position]
