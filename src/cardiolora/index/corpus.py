"""Corpus files read into index rows ``{"id", "text", ...}``: JSONL, text lines, or documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cardiolora.errors import InputError
from cardiolora.io import iter_jsonl

JSONL_SUFFIXES = (".jsonl", ".ndjson")
LINE_SUFFIXES = (".txt",)
DOCUMENT_SUFFIXES = (".md", ".markdown", ".html", ".htm", ".pdf")
CORPUS_FORMATS = (
    ".jsonl (one JSON object a line, with a text field), .txt (one text a line) or "
    ".md, .html, .pdf (one text a paragraph)"
)
Record = tuple[int | None, Any, dict[str, Any]]  # (line, id or None, row)


def _jsonl_texts(path: Path, text_field: str, id_field: str) -> Iterator[Record]:
    for line, record in iter_jsonl(path):
        text = record.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"missing or empty text field {text_field!r}", path=path, line=line, field=text_field)
        yield line, record.get(id_field), {**record, "text": text}


def _line_texts(path: Path) -> Iterator[Record]:
    from cardiolora.io import iter_text_lines

    for line, raw in iter_text_lines(path):
        if raw.strip():
            yield line, None, {"text": raw.strip()}


def _document_texts(path: Path) -> Iterator[Record]:
    """The cleaned paragraphs of a Markdown, HTML or PDF file (the readers of ``cardiolora data
    corpus``), each with where it came from (``source``, ``page`` for a PDF, ``paragraph``, and the
    heading above it as ``section``). Headings are not rows: a hit on "Treatment" alone tells nothing."""
    from cardiolora.data.corpus import CorpusSettings, clean_block, iter_blocks

    section = None
    for block in iter_blocks(path, CorpusSettings()):
        text = clean_block(block.text)
        if block.heading:
            section = text or section
            continue
        if text:
            row = {"text": text, "source": block.source, "paragraph": block.paragraph}
            if section is not None:
                row["section"] = section
            yield None, None, row if block.page is None else {**row, "page": block.page}


def read_corpus(path: str | Path, text_field: str = "text", id_field: str = "id") -> list[dict[str, Any]]:
    """Corpus rows ``{"id", "text", ...}`` from a file, read by its suffix (:data:`CORPUS_FORMATS`):
    JSONL rows with a non-empty ``text_field`` (other fields kept), a text file's non-blank lines,
    or a document's paragraphs. A missing id becomes the row number; ids must be unique."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        records = _jsonl_texts(path, text_field, id_field)
    elif suffix in LINE_SUFFIXES:
        records = _line_texts(path)
    elif suffix in DOCUMENT_SUFFIXES:
        records = _document_texts(path)
    else:
        raise InputError(f"unsupported corpus format {suffix or '(no suffix)'!r}; expected {CORPUS_FORMATS}", path=path)
    rows, seen = [], set()
    for line, given_id, record in records:
        row_id = str(len(rows) if given_id is None else given_id)
        if row_id in seen:
            raise InputError(f"duplicate id {row_id!r}", path=path, line=line, field=id_field)
        seen.add(row_id)
        rows.append({**record, "id": row_id})
    if not rows:
        raise InputError("the corpus is empty", path=path)
    return rows
