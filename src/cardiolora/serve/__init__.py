"""Serving: an OpenAI-compatible embedding API over one base model with many adapters, and
semantic search indexes (:mod:`cardiolora.serve.search`).

Names load on first use: ``import cardiolora.serve.search`` (or this package) imports neither
FastAPI nor the embedding stack, so index and retrieval code runs where the web stack is not
installed (GPU images) and ``cardiolora search`` starts without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# name -> module that defines it
_EXPORTS = {
    "ServeSettings": "cardiolora.serve.app",
    "create_app": "cardiolora.serve.app",
    "MicroBatcher": "cardiolora.serve.batcher",
    "AdapterNotFound": "cardiolora.serve.pool",
    "AdapterPool": "cardiolora.serve.pool",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cardiolora.serve' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
