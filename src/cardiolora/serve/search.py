"""Where the index code lived before :mod:`cardiolora.index`: its names, re-exported so that
``from cardiolora.serve.search import build_index, SearchIndex`` keeps working."""

from __future__ import annotations

from cardiolora.index.build import (
    ADAPTER_WEIGHTS,
    INDEX_SCHEMA,
    build_index,
    build_index_from_chunks,
    check_index_out,
    is_index_directory,
)
from cardiolora.index.corpus import (
    CORPUS_FORMATS,
    DOCUMENT_SUFFIXES,
    JSONL_SUFFIXES,
    LINE_SUFFIXES,
    Record,
    read_corpus,
)
from cardiolora.index.recipe import INDEX_TYPES
from cardiolora.index.search import SearchIndex, evaluate_retrieval, index_adapter

# The old name: the two types there were before IVF.
INDEX_KINDS = INDEX_TYPES

__all__ = [
    "ADAPTER_WEIGHTS",
    "CORPUS_FORMATS",
    "DOCUMENT_SUFFIXES",
    "INDEX_KINDS",
    "INDEX_SCHEMA",
    "INDEX_TYPES",
    "JSONL_SUFFIXES",
    "LINE_SUFFIXES",
    "Record",
    "SearchIndex",
    "build_index",
    "build_index_from_chunks",
    "check_index_out",
    "evaluate_retrieval",
    "index_adapter",
    "is_index_directory",
    "read_corpus",
]
