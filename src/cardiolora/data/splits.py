"""Seeded train/validation/test splits that keep each group (concept, document) in one split."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cardiolora.data.records import PairRecord
from cardiolora.data.text import normalize_for_match
from cardiolora.errors import CardioloraError


def _bucket(group: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_pairs(
    pairs: Sequence[PairRecord], *, validation: float = 0.05, test: float = 0.0, seed: int = 0
) -> dict[str, list[PairRecord]]:
    """Assign each pair by a seeded hash of its group (else its normalized anchor).

    Hashing the group, not shuffling rows, keeps every pair of one concept or paragraph together, so
    a validation score is never inflated by near-copies of training pairs, and adding pairs later
    does not move the existing ones between splits.
    """
    if validation < 0 or test < 0 or validation + test >= 1:
        raise CardioloraError(f"split fractions must be >= 0 and sum below 1, got validation={validation} test={test}")
    splits: dict[str, list[PairRecord]] = {"train": [], "validation": [], "test": []}
    for pair in pairs:
        position = _bucket(pair.group or normalize_for_match(pair.anchor), seed)
        if position < test:
            splits["test"].append(pair)
        elif position < test + validation:
            splits["validation"].append(pair)
        else:
            splits["train"].append(pair)
    return splits
