"""An index's corpus rows on disk: ``meta.jsonl`` (one JSON row a vector, in vector order) and
``meta.offsets.npy`` (the byte offset of every row, plus the file's length).

Rows are written one chunk at a time (:class:`RowWriter`) and read one at a time (:class:`RowStore`:
the offsets memory-mapped, a row read with ``pread`` when a hit needs it), so neither a build nor a
search of a large corpus holds every row in memory. Indexes written before the offsets file existed
are read whole into a list.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

META = "meta.jsonl"
OFFSETS = "meta.offsets.npy"


class RowWriter:
    """Appends rows to ``directory/meta.jsonl`` and records their offsets; :meth:`close` writes the offsets."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._handle = open(directory / META, "wb")  # noqa: SIM115 - closed by close()
        self._offsets = array("q", [0])  # 8 bytes a row: 8 MB for a million rows

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
            self._handle.write(data)
            self._offsets.append(self._offsets[-1] + len(data))

    def close(self) -> None:
        self._handle.close()
        np.save(self.directory / OFFSETS, np.frombuffer(self._offsets, dtype=np.int64))


class RowStore:
    """Read-only rows of an index directory, by position; thread-safe (``pread`` on one descriptor)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offsets = np.load(path / OFFSETS, mmap_mode="r")
        self._fd = os.open(path / META, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, position: int) -> dict[str, Any]:
        position = int(position)
        if not 0 <= position < len(self):
            raise IndexError(position)
        start, end = int(self._offsets[position]), int(self._offsets[position + 1])
        return json.loads(os.pread(self._fd, end - start, start))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with open(self.path / META, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)

    def close(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


def open_rows(path: str | Path) -> RowStore | list[dict[str, Any]]:
    """The rows of an index directory: a :class:`RowStore`, or a list for an index without offsets."""
    path = Path(path)
    if (path / OFFSETS).is_file():
        return RowStore(path)
    with open(path / META, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
