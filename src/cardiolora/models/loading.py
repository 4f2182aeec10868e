"""Resolve a model name or path to local weights and load it as a sentence-transformers model.

Everything that depends on the model's family happens here, once: the pooling module, the EOS token
that last-token pooling reads, the pad token decoders lack, LoRA targets, prompts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cardiolora.errors import CardioloraError, InputError, ModelNotAvailableError, UnknownNameError
from cardiolora.models.registry import MODEL_REGISTRY, ModelSpec, get_model_spec
from cardiolora.models.sources import HubCache, LocalDirectory, ModelSource

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Model types whose LoRA targets PEFT's own table lacks.
_EXTRA_LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "mpnet": ("q", "v"),
    "distilbert": ("q_lin", "v_lin"),
    "modernbert": ("Wqkv",),
    "jina_bert": ("query", "value"),
    "nomic_bert": ("Wqkv",),
}
_DECODER_MODEL_TYPES = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phi",
    "phi3",
    "gpt2",
    "gpt_neox",
    "falcon",
    "olmo",
    "olmo2",
    "smollm3",
    "granite",
    "stablelm",
    "starcoder2",
    "opt",
    "bloom",
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model located on this machine: its zoo entry (inferred for a plain path) and its directory."""

    spec: ModelSpec
    path: Path
    source: ModelSource  # ``source.describe()`` says it in words ("pip:...", "path:...", "hf-cache:...")


def lora_targets_for(model_type: str) -> tuple[str, ...]:
    """The attention query/value projections of an architecture, for LoRA's ``target_modules``."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    if model_type in _EXTRA_LORA_TARGETS:
        return _EXTRA_LORA_TARGETS[model_type]
    if model_type in PEFT_TARGETS:
        return tuple(PEFT_TARGETS[model_type])
    return ("query", "value")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", path=path, line=exc.lineno) from None


def infer_spec(path: Path, name: str) -> ModelSpec:
    """A zoo entry for a model directory cardiolora has no entry for, read from its config files."""
    config_file = path / "config.json"
    if not config_file.exists():
        raise CardioloraError(f"{path} is not a model directory: it has no config.json")
    config = _read_json(config_file)
    model_type = str(config.get("model_type", ""))
    architectures = config.get("architectures") or []
    is_decoder = (
        model_type in _DECODER_MODEL_TYPES
        or bool(config.get("is_decoder"))
        or any(str(a).endswith("ForCausalLM") for a in architectures)
    )
    pooling = "lasttoken" if is_decoder else "mean"
    pooling_config = path / "1_Pooling" / "config.json"
    if pooling_config.exists():
        pooled = _read_json(pooling_config)
        if pooled.get("pooling_mode_cls_token") or pooled.get("pooling_mode") == "cls":
            pooling = "cls"
        elif pooled.get("pooling_mode_lasttoken") or pooled.get("pooling_mode") == "lasttoken":
            pooling = "lasttoken"
    dimension = int(config.get("hidden_size") or config.get("d_model") or config.get("dim") or 0)
    return ModelSpec(
        name=name,
        hub_id=name,
        family="decoder" if is_decoder else "encoder",
        parameters=0,
        dimension=dimension,
        pooling=pooling,  # type: ignore[arg-type]
        lora_targets=lora_targets_for(model_type),
        sources=(LocalDirectory(path),),
        requires_remote_code="auto_map" in config,
        max_seq_length=min(512, int(config.get("max_position_embeddings") or 512)),
    )


def resolve_model(name_or_path: str) -> ResolvedModel:
    """Find a model on this machine: a zoo name, a local directory, or a hub id in the local cache."""
    if name_or_path in MODEL_REGISTRY:
        spec = MODEL_REGISTRY[name_or_path]
        source = spec.available_source()
        if source is None:
            raise ModelNotAvailableError(
                f"model {spec.name!r} ({spec.hub_id}) is not available on this machine. "
                f"To make it available: {spec.how_to_get()}."
            )
        return ResolvedModel(spec, source.materialize(spec.name), source)

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        path = path.resolve()
        return ResolvedModel(infer_spec(path, name_or_path), path, LocalDirectory(path))

    if "/" in name_or_path and not path.exists():
        known = next((s for s in MODEL_REGISTRY.values() if s.hub_id == name_or_path), None)
        cached = HubCache(name_or_path)
        if cached.is_available():
            snapshot = cached.materialize(name_or_path)
            spec = known or infer_spec(snapshot, name_or_path)
            return ResolvedModel(spec, snapshot, cached)
        if known is not None:
            return resolve_model(known.name)
        raise ModelNotAvailableError(
            f"{name_or_path!r} is neither a local directory nor in the local Hugging Face cache. "
            f"To make it available: {cached.how_to_get()}."
        )
    # Not a known name, not a directory: report the closest zoo names.
    get_model_spec(name_or_path)
    raise UnknownNameError("model", name_or_path, MODEL_REGISTRY)  # pragma: no cover - get_model_spec raised


def ensure_eos_appended(tokenizer: Any) -> None:
    """Make the tokenizer end every text with EOS, which last-token pooling reads.

    Decoder embedders are trained to summarise a text in the state of a final EOS token; most causal
    LM tokenizers do not add one. transformers' fast tokenizers rebuild their post-processor when
    ``add_eos_token`` is set, and truncation then keeps room for the EOS.
    """
    if tokenizer.eos_token_id is None:
        raise CardioloraError("the tokenizer has no EOS token, which last-token pooling needs")
    probe = tokenizer("a")["input_ids"]
    if probe and probe[-1] == tokenizer.eos_token_id:
        return
    try:
        tokenizer.add_eos_token = True
    except AttributeError:
        pass
    probe = tokenizer("a")["input_ids"]
    if not probe or probe[-1] != tokenizer.eos_token_id:
        raise CardioloraError(
            f"cannot make the tokenizer ({type(tokenizer).__name__}) append EOS for last-token pooling"
        )


def _prepare_tokenizer(model: SentenceTransformer, spec: ModelSpec) -> None:
    tokenizer = model.tokenizer
    if tokenizer is None:
        return
    if tokenizer.pad_token is None:
        # Decoders rarely define padding; EOS is the conventional stand-in and the attention mask
        # keeps it out of the pooled state.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if spec.family == "decoder" and spec.pooling == "lasttoken":
        ensure_eos_appended(tokenizer)


def load_sentence_transformer(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    trust_remote_code: bool = False,
    max_seq_length: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> SentenceTransformer:
    """Load a resolved model as a :class:`~sentence_transformers.SentenceTransformer`.

    A directory that already is a sentence-transformers model keeps its own modules (pooling,
    normalization). Any other transformers model gets the pooling its zoo entry names and an L2
    normalization layer.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    spec = resolved.spec
    if spec.requires_remote_code and not trust_remote_code:
        raise CardioloraError(
            f"model {spec.name!r} ships its own Python code, which cardiolora never runs unless asked: "
            f"pass --trust-remote-code (Python: trust_remote_code=True) after reviewing that code"
        )
    kwargs = dict(model_kwargs or {})
    if (resolved.path / "modules.json").exists():
        model = SentenceTransformer(
            str(resolved.path),
            device=device,
            trust_remote_code=trust_remote_code,
            local_files_only=True,
            model_kwargs=kwargs or None,
        )
    else:
        transformer = Transformer(
            str(resolved.path),
            model_kwargs={"trust_remote_code": trust_remote_code, **kwargs},
            processor_kwargs={"trust_remote_code": trust_remote_code},
            config_kwargs={"trust_remote_code": trust_remote_code},
            max_seq_length=max_seq_length or spec.max_seq_length,
        )
        dimension = transformer.get_embedding_dimension()
        pooling = Pooling(dimension, pooling_mode=spec.pooling)
        model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device=device)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    elif model.max_seq_length is None or model.max_seq_length > spec.max_seq_length:
        model.max_seq_length = spec.max_seq_length
    _prepare_tokenizer(model, spec)
    if spec.prompts:
        model.prompts = {**dict(model.prompts or {}), **spec.prompts}
    return model
