"""Seeded train/validation/test splits that keep each group (concept, document) in one split."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


def check_split_directory(out: str | Path) -> Path:
    """``out`` as a directory splits may be written to: new, or empty."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CardioloraError(f"{out} exists and is not a directory; choose a new directory for the splits")
    if out.is_dir() and any(out.iterdir()):
        raise CardioloraError(f"{out} exists and is not empty; choose a new directory")
    return out


def write_splits(
    parts: Mapping[str, Sequence[PairRecord]],
    out: str | Path,
    *,
    settings: dict[str, Any],
    exclude_eval: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Write each non-empty part as ``out/NAME.jsonl`` with its data card (leak guard applied).

    All parts or none: every part is written into a private staging directory beside ``out``, which
    is renamed onto ``out`` once the last one is done. A failure in any part (no pairs left after
    the leak guard, a full disk) leaves no part behind, so a rerun finds ``out`` as it was.
    Returns the :class:`~cardiolora.data.build.DatasetResult` of each written part, by name.
    """
    from cardiolora.data.build import DatasetResult, finish_dataset
    from cardiolora.io import atomic_directory

    out = check_split_directory(out)
    staged = {}
    # An existing (empty) directory is replaced by the rename; through a link, the one it names.
    with atomic_directory(out.resolve() if out.is_dir() else out) as staging:
        for name, part in parts.items():
            if not part:
                continue
            try:
                staged[name] = finish_dataset(
                    part,
                    staging / f"{name}.jsonl",
                    name=name,
                    settings={**settings, "split": name},
                    exclude_eval=exclude_eval,
                )
            except CardioloraError as exc:  # name the file the user asked for, not the staging copy
                raise CardioloraError(str(exc).replace(str(staging / name), str(out / name))) from None
    return {
        name: DatasetResult(out / r.path.name, out / r.datacard_json.name, out / r.datacard_md.name, r.card)
        for name, r in staged.items()
    }
