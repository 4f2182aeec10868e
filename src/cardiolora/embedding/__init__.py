"""Embedding: texts to L2-normalized vectors with the right pooling and prompts for each model."""

from cardiolora.embedding.embedder import Embedder, check_adapter_dir

__all__ = ["Embedder", "check_adapter_dir"]
