"""Inputs of a large embedding job, cut into shards before anything runs, and each shard read alone.

Why the plan comes first
------------------------
A resumed job must embed every input row exactly once. Ray Data decides its own block boundaries
(by bytes, by the cluster's size, by its version) and a rerun may cut the same files differently,
so "blocks 0-40 are done" means nothing on the next run. The job therefore cuts the inputs itself,
up front, from facts that do not change between runs:

* the input files, expanded from files, directories and globs, sorted by path;
* for JSONL and text files, their lines: a shard is ``rows_per_shard`` consecutive lines of one
  file, located by the byte offset of its first line (found by one pass over the bytes that counts
  ``\\n``; CRLF endings work, a lone ``\\r`` does not end a line) and the line number it starts at;
* for Parquet files, their row count from the file's footer: a shard is a row range.

Every shard has a name derived from a hash of the job's settings (model, adapter and its weights,
precision, role, fields...), its file's path, size and modification time, and its range. A shard
file of that name exists only once it is complete (written to a temporary name and renamed), so a
rerun of the same job skips exactly the shards whose files exist and reads the rest again; a file
that changed gets new shard names, and its old shards are removed. Blank lines are skipped, so a
shard may hold fewer rows than ``rows_per_shard``; ids depend on the file and line, never on the
run.

Reading a shard validates as the single-process path does: malformed JSON, a missing or empty
text field, text that is not UTF-8 fail with an :class:`~cardiolora.errors.InputError` naming the
file and line (Parquet: the row), so a bad row fails its shard before anything of it is written.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.errors import CardioloraError, InputError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
TEXT_SUFFIXES = (".txt",)
PARQUET_SUFFIXES = (".parquet", ".pq")
INPUT_FORMATS = ".jsonl/.ndjson (a JSON object a line), .txt (a text a line) or .parquet"
# Columns every vector shard has; an input field of one of these names (other than the text and
# id fields, which become them) would be overwritten, and is refused.
RESERVED_COLUMNS = ("id", "text", "vector")
_SCAN_CHUNK = 16 << 20


def input_format(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    return None


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """The input files named by ``inputs`` (files, directories searched recursively, globs), made
    absolute, without repeats, sorted by path: the same inputs give the same order on every run."""
    found: set[Path] = set()
    for item in inputs:
        text = str(item)
        path = Path(text).expanduser()
        if path.is_dir():
            matches = [p for p in path.rglob("*") if p.is_file() and input_format(p) and not p.name.startswith(".")]
            if not matches:
                raise CardioloraError(f"input directory {path} holds no {INPUT_FORMATS} files")
        elif path.is_file():
            if input_format(path) is None:
                raise InputError(f"unsupported input format {path.suffix or '(no suffix)'!r}; expected {INPUT_FORMATS}",
                                 path=path)  # fmt: skip
            matches = [path]
        elif glob.has_magic(text):
            matches = [Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)]
            matches = [p for p in matches if p.is_file() and input_format(p)]
            if not matches:
                raise CardioloraError(f"input pattern {text!r} matches no {INPUT_FORMATS} files")
        else:
            raise InputError("file not found", path=path)
        found.update(Path(os.path.abspath(p)) for p in matches)
    if not found:
        raise CardioloraError("no input files")
    return sorted(found)


@dataclass(frozen=True)
class InputFile:
    path: str  # absolute
    name: str  # relative to the inputs' common directory: what ids are made of
    format: str  # jsonl, text or parquet
    size: int
    mtime_ns: int
    rows: int  # lines (jsonl, text; blank ones included) or Parquet rows


@dataclass(frozen=True)
class Shard:
    """One unit of work and one output file: lines ``[start, start + span)`` (1-based line numbers)
    of a JSONL or text file beginning at byte ``byte_start``, or rows ``[start, start + span)``
    (0-based) of a Parquet file."""

    name: str
    input: int  # index into the plan's inputs
    start: int
    span: int
    byte_start: int = 0
    byte_stop: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _line_starts(path: Path, every: int) -> tuple[int, list[int]]:
    """The number of lines of ``path`` and the byte offset at which line ``1 + k * every`` begins,
    for each k. One pass with numpy over the bytes: counting newlines is what decides the cost."""
    starts = [0]
    lines = 0
    offset = 0
    last_byte = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            # Line number (0-based) that begins after each newline: lines + i + 1.
            first = (-(lines + 1)) % every  # index of the first newline after which a shard starts
            for i in newlines[first::every]:
                starts.append(offset + int(i) + 1)
            lines += len(newlines)
            offset += len(chunk)
            last_byte = chunk[-1:]
    if offset and last_byte != b"\n":
        lines += 1  # a last line without its newline
    if starts and starts[-1] >= offset:
        starts.pop()  # a shard would start at the end of the file: nothing is there
    return lines, starts


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(f"not a readable Parquet file ({type(exc).__name__}: {exc})", path=path) from None


def plan_shards(
    files: list[Path], settings: dict[str, Any], rows_per_shard: int
) -> tuple[list[InputFile], list[Shard]]:
    """The inputs (with size, time and rows) and their shards; names depend on ``settings`` too."""
    if rows_per_shard < 1:
        raise CardioloraError("rows per shard must be >= 1")
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    settings_key = json.dumps(settings, sort_keys=True, default=str)
    inputs: list[InputFile] = []
    shards: list[Shard] = []
    for index, path in enumerate(files):
        stat = path.stat()
        fmt = input_format(path)
        assert fmt is not None
        if fmt == "parquet":
            rows = _parquet_rows(path)
            ranges = [(start, min(rows_per_shard, rows - start), 0, 0) for start in range(0, rows, rows_per_shard)]
        else:
            rows, starts = _line_starts(path, rows_per_shard)
            stops = [*starts[1:], stat.st_size]
            ranges = [
                (1 + k * rows_per_shard, min(rows_per_shard, rows - k * rows_per_shard), begin, stop)
                for k, (begin, stop) in enumerate(zip(starts, stops, strict=True))
            ]
        entry = InputFile(str(path), str(path.relative_to(root)), fmt, stat.st_size, stat.st_mtime_ns, rows)
        inputs.append(entry)
        for start, span, byte_start, byte_stop in ranges:
            identity = json.dumps([settings_key, entry.path, entry.size, entry.mtime_ns, start, span, byte_start])
            key = hashlib.sha256(identity.encode()).hexdigest()[:12]
            name = f"part-{len(shards):05d}-{key}.parquet"
            shards.append(Shard(name, index, start, span, byte_start, byte_stop))
    return inputs, shards


# ------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Fields:
    text: str = "text"
    id: str = "id"


def _check_text(value: Any, path: str, fields: Fields, *, line: int | None = None, row: int | None = None) -> str:
    if isinstance(value, str) and value.strip():
        return value
    reason = (
        "missing" if value is None else "empty" if isinstance(value, str) else f"not a string ({type(value).__name__})"
    )
    if row is not None:
        raise InputError(f"row {row}: text field {fields.text!r} is {reason}", path=path)
    raise InputError(f"text field is {reason}", path=path, line=line, field=fields.text)


def _check_metadata(keys: Iterable[str], path: str, fields: Fields, line: int | None = None) -> None:
    for key in keys:
        if key in RESERVED_COLUMNS and key not in (fields.text, fields.id):
            raise InputError(
                f"field {key!r} would be overwritten by the shard's own {key!r} column; rename it",
                path=path,
                line=line,
            )


def _shard_lines(source: InputFile, shard: Shard) -> Iterable[tuple[int, str]]:
    """``(line number, line)`` of the shard's byte range, decoded one line at a time."""
    from cardiolora.io import _not_utf8

    path = Path(source.path)
    try:
        with open(path, "rb") as handle:
            handle.seek(shard.byte_start)
            data = handle.read(shard.byte_stop - shard.byte_start)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path=path) from None
    if len(data) != shard.byte_stop - shard.byte_start:
        raise InputError("the file changed while the job ran (it is shorter now); run the job again", path=path)
    if shard.byte_start == 0:
        data = data.removeprefix(b"\xef\xbb\xbf")
    for offset, raw in enumerate(data.split(b"\n")[: shard.span]):
        number = shard.start + offset
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, raw, exc, first_line=number) from None


def read_shard_rows(source: InputFile, shard: Shard, fields: Fields) -> tuple[list[str], list[str], dict[str, list]]:
    """The texts, ids and metadata columns (one list per field, ``None`` where a row lacks it) of a
    shard. An id is the row's id field as text, else ``NAME:LINE`` (Parquet: ``NAME:ROW``, 0-based)."""
    from cardiolora.io import parse_jsonl_line

    texts: list[str] = []
    ids: list[str] = []
    columns: dict[str, list] = {}
    if source.format == "parquet":
        table = _parquet_range(source, shard)
        if fields.text not in table.column_names:
            raise InputError(f"no text column {fields.text!r} (columns: {', '.join(table.column_names)})",
                             path=source.path)  # fmt: skip
        _check_metadata(table.column_names, source.path, fields)
        for offset, value in enumerate(table.column(fields.text).to_pylist()):
            texts.append(_check_text(value, source.path, fields, row=shard.start + offset))
        if fields.id in table.column_names:
            given = table.column(fields.id).to_pylist()
            ids = [f"{source.name}:{shard.start + i}" if v is None else str(v) for i, v in enumerate(given)]
        else:
            ids = [f"{source.name}:{shard.start + i}" for i in range(table.num_rows)]
        for name in table.column_names:
            if name not in (fields.text, fields.id):
                columns[name] = table.column(name).to_pylist()
        return texts, ids, columns
    for number, line in _shard_lines(source, shard):
        if source.format == "text":
            if line.strip():
                texts.append(line.strip())
                ids.append(f"{source.name}:{number}")
            continue
        record = parse_jsonl_line(line, source.path, number)
        if record is None:
            continue
        texts.append(_check_text(record.get(fields.text), source.path, fields, line=number))
        given = record.get(fields.id)
        ids.append(f"{source.name}:{number}" if given is None else str(given))
        _check_metadata(record, source.path, fields, number)
        for key, value in record.items():
            if key in (fields.text, fields.id):
                continue
            if key not in columns:
                columns[key] = [None] * (len(texts) - 1)
            columns[key].append(value)
        for values in columns.values():
            if len(values) < len(texts):
                values.append(None)
    return texts, ids, columns


def _parquet_range(source: InputFile, shard: Shard):
    """Rows ``[start, start + span)`` of a Parquet file, reading only the row groups they lie in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source.path)
        groups, first, seen = [], None, 0
        for index in range(parquet.metadata.num_row_groups):
            rows = parquet.metadata.row_group(index).num_rows
            if seen + rows > shard.start and seen < shard.start + shard.span:
                groups.append(index)
                first = seen if first is None else first
            seen += rows
        if seen != source.rows:
            raise InputError("the file changed while the job ran; run the job again", path=source.path)
        table = parquet.read_row_groups(groups) if groups else parquet.schema_arrow.empty_table()
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read as Parquet ({exc})", path=source.path) from None
    return table.slice(shard.start - (first or 0), shard.span)
