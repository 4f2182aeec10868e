"""The model zoo and model loading: short names to offline weights to a sentence-transformers model."""

from cardiolora.models.loading import (
    ResolvedModel,
    ensure_eos_appended,
    infer_spec,
    load_sentence_transformer,
    lora_targets_for,
    resolve_model,
)
from cardiolora.models.registry import MODEL_REGISTRY, STUDY_MODELS, ModelSpec, get_model_spec

__all__ = [
    "MODEL_REGISTRY",
    "STUDY_MODELS",
    "ModelSpec",
    "ResolvedModel",
    "ensure_eos_appended",
    "get_model_spec",
    "infer_spec",
    "load_sentence_transformer",
    "lora_targets_for",
    "resolve_model",
]
