"""Training pairs: the JSONL schema that crosses from data to training, read and written safely.

One JSON object a line::

    {"anchor": "Mitral stenosis", "positive": "Aortic stenosis", "negative": "Atrial flutter",
     "source": "icd10cm", "relation": "category", "group": "icd10cm:I05.0", "category": "valvular"}

``anchor`` and ``positive`` are required non-empty strings; ``negative`` is optional (a text that must
sit further from the anchor than the positive does); ``source`` and ``relation`` say where the pair
came from (data cards count them); ``group`` keeps pairs of one concept or document in one split;
``category`` is the anchor's clinical category when known; ``branch`` the organ system of an
ontology pair (``cardiovascular``, ``nervous``...): training treats pairs of another branch than its
target as replay (see ``TrainConfig.target_branch``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cardiolora.errors import InputError
from cardiolora.io import atomic_path, iter_jsonl, iter_text_lines

TEXT_FIELDS = ("anchor", "positive", "negative")


@dataclass(frozen=True)
class PairRecord:
    anchor: str
    positive: str
    negative: str | None = None
    source: str = "user"
    relation: str = "pair"
    group: str | None = None
    category: str | None = None
    branch: str | None = None

    def texts(self) -> tuple[str, ...]:
        return tuple(t for t in (self.anchor, self.positive, self.negative) if t)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, ensure_ascii=False)


def _validated(record: dict, path: Path, line: int, default_source: str) -> PairRecord:
    for field in ("anchor", "positive"):
        if field not in record or record[field] is None:
            raise InputError("missing required field", path=path, line=line, field=field)
    values = {}
    for field in TEXT_FIELDS:
        value = record.get(field)
        if value is None or (field == "negative" and value == ""):
            continue
        if not isinstance(value, str):
            raise InputError(f"must be a string, got {type(value).__name__}", path=path, line=line, field=field)
        if not value.strip():
            raise InputError("must not be empty or whitespace", path=path, line=line, field=field)
        values[field] = value.strip()
    extras = {}
    for field in ("source", "relation", "group", "category", "branch"):
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            raise InputError("must be a string when given", path=path, line=line, field=field)
        if value:
            extras[field] = value
    extras.setdefault("source", default_source)
    return PairRecord(**values, **extras)


def read_pairs(path: str | Path, *, default_source: str = "user") -> Iterator[PairRecord]:
    """Stream validated pairs from JSONL or CSV (columns ``anchor``, ``positive``, optional ``negative``).

    Both are UTF-8, with or without a byte-order mark (what spreadsheets write). Raises
    :class:`InputError` naming file, line and field at the first bad record.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path, default_source)
        return
    for line_number, record in iter_jsonl(path):
        yield _validated(record, path, line_number, default_source)


def _read_csv(path: Path, default_source: str) -> Iterator[PairRecord]:
    # Lines come decoded one at a time (BOM dropped, endings kept as newline="" would), so bad UTF-8
    # is reported at its line; so is csv.Error (a field longer than csv.field_size_limit()).
    reader = csv.DictReader(line for _, line in iter_text_lines(path))
    try:
        columns = reader.fieldnames or []
    except csv.Error as exc:
        raise InputError(f"unreadable CSV ({exc})", path=path, line=max(1, reader.reader.line_num)) from None
    for required in ("anchor", "positive"):
        if required not in columns:
            found = ", ".join(str(c) for c in columns) if columns else "none"
            raise InputError(f"CSV lacks the required column (columns: {found})", path=path, line=1, field=required)
    while True:
        start = reader.line_num + 1  # the row's first line: a quoted field may run over several
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # DictReader.line_num is only updated after a row succeeds
            raise InputError(f"unreadable CSV ({exc})", path=path, line=reader.reader.line_num) from None
        if None in row:  # DictReader keeps values beyond the header under the key None
            raise InputError(
                f"{len(columns) + len(row[None])} fields where the header has {len(columns)} ({', '.join(columns)}): "
                "a comma inside a text needs the text in double quotes",
                path=path,
                line=start,
            )
        try:
            yield _validated(dict(row), path, start, default_source)
        except InputError as exc:
            # A quoted field may hold line breaks; a quote left open swallows the rest of the file into
            # one field, and the row then lacks its other fields: say so at the line the quote opened.
            spanning = [k for k, v in row.items() if isinstance(v, str) and "\n" in v]
            if spanning and reader.line_num > start and exc.reason == "missing required field":
                raise InputError(
                    f"the field runs on to line {reader.line_num}: a double quote opened here is not closed",
                    path=path,
                    line=start,
                    field=spanning[0],
                ) from None
            raise


def load_pairs(path: str | Path, **kwargs) -> list[PairRecord]:
    pairs = list(read_pairs(path, **kwargs))
    if not pairs:
        raise InputError("no pairs: the file is empty", path=path)
    return pairs


def write_pairs(path: str | Path, pairs: Iterable[PairRecord]) -> int:
    """Write pairs as JSONL atomically; returns how many were written."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(pair.to_json() + "\n")
            count += 1
    return count
