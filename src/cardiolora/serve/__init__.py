"""Serving: an OpenAI-compatible embedding API over one base model with many adapters."""

from cardiolora.serve.app import ServeSettings, create_app
from cardiolora.serve.batcher import MicroBatcher
from cardiolora.serve.pool import AdapterNotFound, AdapterPool

__all__ = ["AdapterNotFound", "AdapterPool", "MicroBatcher", "ServeSettings", "create_app"]
