"""Corpora (text, Markdown, PDF, HTML, JSONL) into clean, deduplicated sentences, streamed.

Pipeline: read blocks (paragraphs with their source, page and paragraph number) -> clean them
(running headers and footers, captions, reference lists, hyphenation across line breaks, OCR
debris) -> split sentences with pysbd (which knows "e.g." and "Dr.") -> filter by length and
letter share -> drop exact duplicates (8-byte hashes of normalized text) and near duplicates
(MinHash LSH over word shingles, datasketch) -> write JSONL through a temporary file.

Only hashes and MinHash signatures are kept per sentence, never the text a second time.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardiolora.data.sentences import NearDuplicateIndex, SentenceSplitter
from cardiolora.data.text import text_hash
from cardiolora.errors import CardioloraError, InputError
from cardiolora.io import atomic_path, iter_jsonl, read_text

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".jsonl")

_HYPHEN_BREAK = re.compile(r"(\w)-\s*\n\s*(\w)")
_CAPTION = re.compile(r"^\s*(fig(ure)?|table|chart|plate)\.?\s*[\dIVXivx]+[.:\-\s]", re.IGNORECASE)
_REFERENCES = re.compile(r"^\s*(references|bibliography|works cited|literature cited)\s*:?\s*$", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^\s*(page\s*)?\d{1,4}(\s*(of|/)\s*\d{1,4})?\s*$", re.IGNORECASE)
_REPEATED_CHAR = re.compile(r"(.)\1{5,}")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class Block:
    """A paragraph of a source document."""

    text: str
    source: str
    page: int | None
    paragraph: int
    heading: bool = False  # a Markdown or HTML heading: a search index makes it the next rows' section


@dataclass
class CorpusSettings:
    min_words: int = 4
    max_words: int = 80
    min_letter_share: float = 0.6
    near_duplicate_threshold: float = 0.75
    near_duplicates: bool = True
    jsonl_field: str = "text"


@dataclass
class CorpusStats:
    documents: int = 0
    blocks: int = 0
    sentences_seen: int = 0
    written: int = 0
    removed: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    length_histogram: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "blocks": self.blocks,
            "sentences_seen": self.sentences_seen,
            "written": self.written,
            "removed": dict(self.removed),
            "by_source": dict(self.by_source.most_common()),
            "length_words_histogram": {str(k): v for k, v in sorted(self.length_histogram.items())},
        }


# ---------------------------------------------------------------------------------------- readers


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def _read_text(path: Path) -> str:
    """The text of a .txt/.md/.html file: UTF-8, a byte-order mark dropped (it would stay glued to
    the first sentence); binary data and other encodings fail naming the file (and line)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path=path) from None
    if b"\x00" in head:
        raise InputError("binary data, not text", path=path)
    return read_text(path)


def _markdown_blocks(text: str) -> list[tuple[str, bool]]:
    """Paragraph, heading and list-item text of Markdown, each with whether it is a heading; code
    blocks, HTML and tables dropped."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    blocks = []
    for position, token in enumerate(tokens):
        if token.type == "inline" and token.children is not None:
            parts = []
            for child in token.children:
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append("\n")
            text = "".join(parts)
            if text.strip():  # an image alone (or only markup) leaves nothing to read
                blocks.append((text, position > 0 and tokens[position - 1].type == "heading_open"))
    return blocks


def _html_blocks(text: str) -> list[tuple[str, bool]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for element in soup(["script", "style", "nav", "header", "footer", "aside", "noscript", "figure", "table"]):
        element.decompose()
    blocks = [
        (element.get_text(" ", strip=True), element.name in HTML_HEADINGS)
        for element in soup.find_all(["p", "li", *HTML_HEADINGS, "blockquote", "dd"])
    ]
    return [(text, heading) for text, heading in blocks if text]


HTML_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def _strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop lines that recur at the top or bottom of many pages (running headers and footers)."""
    if len(pages) < 3:
        return pages
    edge_counts: Counter = Counter()
    for lines in pages:
        # Running lines are short; a body sentence that opens every page in the same words is not one.
        edges = {
            _DIGITS.sub("#", line.strip().lower())
            for line in lines[:2] + lines[-2:]
            if line.strip() and len(line.split()) <= 8
        }
        edge_counts.update(edges)
    running = {line for line, count in edge_counts.items() if count >= max(3, len(pages) // 2)}
    cleaned = []
    for lines in pages:
        keep = []
        for index, line in enumerate(lines):
            at_edge = index < 2 or index >= len(lines) - 2
            if at_edge and (_DIGITS.sub("#", line.strip().lower()) in running or _PAGE_NUMBER.match(line)):
                continue
            keep.append(line)
        cleaned.append(keep)
    return cleaned


def _pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise InputError("the PDF is encrypted", path=path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"unreadable PDF ({exc})", path=path) from None
    if not any(p.strip() for p in pages):
        raise InputError("the PDF has no extractable text (scanned images need OCR first)", path=path)
    lines = _strip_running_lines([p.splitlines() for p in pages])
    return ["\n".join(page_lines) for page_lines in lines]


def iter_blocks(path: Path, settings: CorpusSettings) -> Iterator[Block]:
    """The paragraphs of one file, with source, page (PDF) and paragraph number."""
    suffix = path.suffix.lower()
    source = str(path)
    if suffix == ".pdf":
        for page_number, page in enumerate(_pdf_pages(path), start=1):
            for index, paragraph in enumerate(_paragraphs(page)):
                yield Block(paragraph, source, page_number, index)
        return
    if suffix == ".jsonl":
        for line_number, record in iter_jsonl(path):
            value = record.get(settings.jsonl_field)
            if not isinstance(value, str):
                raise InputError("missing or not a string", path=path, line=line_number, field=settings.jsonl_field)
            doc_source = f"{source}#{record.get('id', line_number)}"
            for index, paragraph in enumerate(_paragraphs(value)):
                yield Block(paragraph, doc_source, None, index)
        return
    text = _read_text(path)
    if suffix in (".md", ".markdown"):
        paragraphs = _markdown_blocks(text)
    elif suffix in (".html", ".htm"):
        paragraphs = _html_blocks(text)
    else:
        paragraphs = [(paragraph, False) for paragraph in _paragraphs(text)]
    for index, (paragraph, heading) in enumerate(paragraphs):
        yield Block(paragraph, source, None, index, heading)


# --------------------------------------------------------------------------------------- cleaning


def clean_block(text: str) -> str | None:
    """A paragraph without line-break hyphenation, caption and debris lines; None to drop it."""
    # Byte-order marks inside the text (files joined with `cat`, each with its own) are not text.
    text = _HYPHEN_BREAK.sub(r"\1\2", text.replace("\ufeff", ""))
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or _PAGE_NUMBER.match(stripped) or _CAPTION.match(stripped):
            continue
        letters = sum(c.isalpha() for c in stripped)
        if letters < 0.5 * len(stripped) or _REPEATED_CHAR.search(stripped):
            continue  # OCR debris: rules, dot leaders, symbol runs
        lines.append(stripped)
    joined = " ".join(lines)
    return re.sub(r"\s+", " ", joined).strip() or None


def is_reference_heading(text: str) -> bool:
    return bool(_REFERENCES.match(text))


# -------------------------------------------------------------------------------------- pipeline


def iter_sentences(paths: Iterable[Path], settings: CorpusSettings, stats: CorpusStats) -> Iterator[dict[str, Any]]:
    """Clean, unique sentences of ``paths`` as records, counting what is dropped and why."""
    splitter = SentenceSplitter()
    exact: set[bytes] = set()
    near = NearDuplicateIndex(settings.near_duplicate_threshold) if settings.near_duplicates else None
    for path in paths:
        stats.documents += 1
        in_references = False
        for block in iter_blocks(path, settings):
            stats.blocks += 1
            first_line = next(iter(block.text.strip().splitlines()), "")
            if not first_line:
                continue  # nothing to read (a reader keeps empty blocks out; this is the guard)
            if is_reference_heading(first_line):
                in_references = True  # everything after a reference heading, to the document's end
                stats.removed["reference_list"] += 1
                continue
            if in_references:
                stats.removed["reference_list"] += 1
                continue
            cleaned = clean_block(block.text)
            if cleaned is None:
                stats.removed["debris_or_caption_block"] += 1
                continue
            for index, sentence in enumerate(splitter.split(cleaned)):
                stats.sentences_seen += 1
                words = len(sentence.split())
                if words < settings.min_words:
                    stats.removed["too_short"] += 1
                    continue
                if words > settings.max_words:
                    stats.removed["too_long"] += 1
                    continue
                if sum(c.isalpha() for c in sentence) < settings.min_letter_share * len(sentence) or not _WORD.search(
                    sentence
                ):
                    stats.removed["low_letter_share"] += 1
                    continue
                digest = text_hash(sentence)
                if digest in exact:
                    stats.removed["exact_duplicate"] += 1
                    continue
                exact.add(digest)
                if near is not None and near.seen_similar(sentence):
                    stats.removed["near_duplicate"] += 1
                    continue
                stats.written += 1
                stats.by_source[Path(block.source.split("#", 1)[0]).name] += 1
                stats.length_histogram[min(words // 5 * 5, 100)] += 1
                yield {
                    "text": sentence,
                    "source": block.source,
                    "page": block.page,
                    "paragraph": block.paragraph,
                    "sentence": index,
                }


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files of the supported kinds, directories expanded recursively; a missing input is an error."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise InputError("file not found", path=path)
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
        elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise InputError(
                f"unsupported file type {path.suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}", path=path
            )
        else:
            paths.append(path)
    if not paths:
        raise CardioloraError("no corpus files found in the given inputs")
    return paths


def build_corpus(
    inputs: Iterable[str | Path], out: str | Path, settings: CorpusSettings | None = None, progress=None
) -> CorpusStats:
    """Write the clean, unique sentences of ``inputs`` to ``out`` (JSONL), atomically.

    ``progress`` (optional) is called with each finished file's path.
    """
    settings = settings or CorpusSettings()
    paths = expand_inputs(inputs)
    stats = CorpusStats()
    with atomic_path(out) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in iter_sentences(_with_progress(paths, progress), settings, stats):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        if stats.written == 0:
            raise CardioloraError(
                f"the corpus is empty: no sentence of {stats.sentences_seen} seen passed the filters "
                f"({dict(stats.removed) or 'no text found'})"
            )
    return stats


def _with_progress(paths: list[Path], progress) -> Iterator[Path]:
    for path in paths:
        yield path
        if progress is not None:
            progress(path)
