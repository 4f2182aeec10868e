"""Vector shards on disk: one Parquet file per planned shard, and the job's manifest ``embed.json``.

A shard has the columns ``id`` (string), ``text`` (string), ``vector`` (fixed-size list of float32,
unit length) and the input's other fields (JSONL fields, Parquet columns). A JSONL field whose
values Arrow cannot hold in one column (a number in one row, a string in another) is stored as JSON
text. Rows keep the input's order. A shard file appears only once complete (:func:`write_shard`);
``embed.json`` lists the shards in order, so readers take exactly the planned shards, never a stray
file, and a job that is not complete is refused (:func:`iter_vector_shards`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.errors import CardioloraError
from cardiolora.io import atomic_path, read_json_object

MANIFEST = "embed.json"
SHARDS_SCHEMA = "cardiolora.vector-shards/1"


def is_shard_directory(path: str | Path) -> bool:
    """Whether ``path`` holds the vector shards of a ``cardiolora embed --engine ray`` job."""
    return read_json_object(Path(path) / MANIFEST).get("schema") == SHARDS_SCHEMA


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The ``embed.json`` of a shard directory (refused when there is none)."""
    manifest = read_json_object(Path(directory) / MANIFEST)
    if manifest.get("schema") != SHARDS_SCHEMA:
        raise CardioloraError(f"{directory} is not a directory of vector shards (no {MANIFEST} of cardiolora's)")
    return manifest


def _metadata_array(values: list):
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        # Mixed types across rows: JSON text keeps every value, and says what it was.
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())


def rows_table(ids: list[str], texts: list[str], columns: dict[str, Any]):
    """The rows of one shard without their vectors; ``columns`` are lists (JSONL) or Arrow arrays."""
    import pyarrow as pa

    data: dict[str, Any] = {"id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())}
    for name, values in columns.items():
        data[name] = values if isinstance(values, pa.Array | pa.ChunkedArray) else _metadata_array(values)
    return pa.table(data)


def add_vectors(table, vectors: np.ndarray | None, dimension: int):
    """``table`` with its ``vector`` column (third, after ``id`` and ``text``)."""
    import pyarrow as pa

    vectors = np.zeros((0, dimension), np.float32) if vectors is None else vectors
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), pa.float32())
    return table.add_column(2, "vector", pa.FixedSizeListArray.from_arrays(flat, dimension))


def write_shard(path: Path, table) -> None:
    """Write a shard to a temporary file beside ``path`` and rename it into place."""
    import pyarrow.parquet as pq

    with atomic_path(path, suffix=".tmp") as tmp:
        pq.write_table(table, tmp)


def _vectors(table) -> np.ndarray:
    column = table.column("vector").combine_chunks()
    dimension = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dimension).astype(np.float32, copy=False)


def iter_vector_shards(
    directory: str | Path, *, allow_incomplete: bool = False
) -> Iterator[tuple[list[dict[str, Any]], np.ndarray]]:
    """``(records, vectors)`` of each shard of a ``cardiolora embed --engine ray`` output directory,
    in input order: ``records`` are dicts with ``id``, ``text`` and the input's other fields,
    ``vectors`` an ``(n, dimension)`` float32 array of unit vectors, row for row. One shard is in
    memory at a time (what an index builder that fills shard by shard needs).

    Only the shards listed in ``embed.json`` are read. A job that has not finished is refused
    (``allow_incomplete`` yields the shards written so far instead); a listed shard that is missing
    or holds another number of rows than recorded is an error, never silently skipped."""
    import pyarrow.parquet as pq

    directory = Path(directory)
    manifest = read_manifest(directory)
    done = manifest.get("rows_per_shard_written") or {}
    if manifest.get("status") != "complete" and not allow_incomplete:
        raise CardioloraError(
            f"the embedding job in {directory} has not finished ({len(done)} of {len(manifest['shards'])} shards "
            "written); run the same `cardiolora embed --engine ray` command again to finish it"
        )
    for shard in manifest["shards"]:
        path = directory / shard["name"]
        if not path.is_file():
            if allow_incomplete:
                continue
            raise CardioloraError(f"{path} is missing: the shard directory is damaged; run the embedding job again")
        table = pq.read_table(path)
        expected = done.get(shard["name"])
        if expected is not None and expected != table.num_rows:
            raise CardioloraError(f"{path} holds {table.num_rows} rows, {MANIFEST} recorded {expected}")
        yield table.drop_columns(["vector"]).to_pylist(), _vectors(table)
