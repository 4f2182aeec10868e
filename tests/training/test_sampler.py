from __future__ import annotations

import random

import numpy as np
import torch
from datasets import Dataset

from cardiolora.training.sampler import LengthGroupedNoDuplicatesBatchSampler


def _dataset(n: int = 600, seed: int = 0) -> Dataset:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(80)]
    anchors = [" ".join(rng.choices(words, k=rng.choice([1, 2, 3, 20]))) + f" {i % 450}" for i in range(n)]
    positives = [" ".join(rng.choices(words, k=rng.choice([1, 2, 30]))) for _ in range(n)]
    return Dataset.from_dict({"anchor": anchors, "positive": positives, "label": [0.0] * n})


def _sampler(dataset, seed=0, drop_last=False):
    return LengthGroupedNoDuplicatesBatchSampler(
        dataset, batch_size=16, drop_last=drop_last, valid_label_columns=["label"],
        generator=torch.Generator(), seed=seed,
    )  # fmt: skip


def test_every_row_once_and_no_text_twice_in_a_batch():
    dataset = _dataset()
    batches = list(_sampler(dataset))
    seen = [i for batch in batches for i in batch]
    assert sorted(seen) == list(range(len(dataset)))  # the anchors repeat after 450 rows: some rows wait
    for batch in batches:
        texts = [t for i in batch for t in (dataset[i]["anchor"], dataset[i]["positive"])]
        assert len(texts) == len(set(texts))
    assert sum(len(b) == 16 for b in batches) >= len(batches) - 2


def test_batches_are_grouped_by_length_and_shuffled():
    dataset = _dataset()
    sampler = _sampler(dataset)
    grouped = list(sampler)
    lengths = sampler.lengths

    def padding(batches):
        return sum(len(b) * lengths[b].max() for b in batches) / lengths.sum()

    rng = np.random.default_rng(0)
    order = rng.permutation(len(dataset))
    plain = [order[i : i + 16] for i in range(0, len(order), 16)]
    assert padding(grouped) < 0.8 * padding(plain)
    # The batch order is shuffled: lengths do not fall steadily through the epoch.
    longest = [lengths[b].max() for b in grouped]
    assert longest != sorted(longest, reverse=True)


def test_the_same_seed_and_epoch_give_the_same_batches():
    dataset = _dataset()
    first, again, other = _sampler(dataset), _sampler(dataset), _sampler(dataset, seed=1)
    assert list(first) == list(again) != list(other)
    again.set_epoch(1)
    assert list(again) != list(first)
