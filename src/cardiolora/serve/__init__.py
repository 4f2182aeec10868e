"""Serving: an OpenAI-compatible embedding API over one base model with many adapters, and
semantic search indexes (:mod:`cardiolora.serve.search`).

Names load on first use: ``import cardiolora.serve.search`` (or this package) imports neither
FastAPI nor the embedding stack, so index and retrieval code runs where the web stack is not
installed (GPU images) and ``cardiolora search`` starts without it.
"""

from __future__ import annotations

from cardiolora._lazy import lazy_exports

# name -> module that defines it
_EXPORTS = {
    "ServeSettings": "cardiolora.serve.app",
    "create_app": "cardiolora.serve.app",
    "MicroBatcher": "cardiolora.serve.batcher",
    "AdapterNotFound": "cardiolora.serve.pool",
    "AdapterPool": "cardiolora.serve.pool",
    "ServedCorpus": "cardiolora.serve.corpus",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
