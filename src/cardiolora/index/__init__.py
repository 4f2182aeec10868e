"""Semantic search indexes: build (in memory or chunk by chunk), index types and their recipes,
recall checks, memory-mapped load, search. Used by serve and the CLI; uses embedding.

Names load on first use, as in :mod:`cardiolora.serve`: importing this package imports neither
FAISS nor the embedding stack.
"""

from __future__ import annotations

from cardiolora._lazy import lazy_exports

# name -> module that defines it
_EXPORTS = {
    "read_corpus": "cardiolora.index.corpus",
    "CORPUS_FORMATS": "cardiolora.index.corpus",
    "INDEX_TYPES": "cardiolora.index.recipe",
    "IndexRecipe": "cardiolora.index.recipe",
    "choose_index_type": "cardiolora.index.recipe",
    "plan_recipe": "cardiolora.index.recipe",
    "INDEX_SCHEMA": "cardiolora.index.build",
    "BuiltIndex": "cardiolora.index.build",
    "build_index": "cardiolora.index.build",
    "build_index_from_chunks": "cardiolora.index.build",
    "check_index_out": "cardiolora.index.build",
    "describe_embedder": "cardiolora.index.build",
    "is_index_directory": "cardiolora.index.build",
    "SearchIndex": "cardiolora.index.search",
    "evaluate_retrieval": "cardiolora.index.search",
    "open_faiss_index": "cardiolora.index.search",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
