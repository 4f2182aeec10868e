"""Adapters: scaling a loaded LoRA update, merging it into the weights, and the base model an
adapter belongs to (recorded when it is trained, the default model wherever it is loaded)."""

from __future__ import annotations

import json
from pathlib import Path

from cardiolora.errors import CardioloraError


def scale_adapter(model, scale: float, adapter_name: str = "default") -> int:
    """Multiply a loaded LoRA adapter's update by ``scale`` (relative to its trained ``alpha / r``);
    returns how many layers were scaled. Only LoRA-family adapters (LoRA, DoRA, AdaLoRA) have a scale."""
    if scale < 0:
        raise CardioloraError(f"the adapter scale must be >= 0, got {scale}")
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and adapter_name in m.scaling]
    if not layers:
        if scale != 1.0:
            raise CardioloraError("only LoRA adapters (lora, dora, adalora) can be scaled")
        return 0
    for layer in layers:
        # The trained scaling is kept on the layer: scaling again is relative to it, not compounded.
        # (PEFT's set_scale recomputes alpha / r, which is not AdaLoRA's scaling.)
        trained = layer.__dict__.setdefault("_cardiolora_trained_scaling", {})
        trained.setdefault(adapter_name, layer.scaling[adapter_name])
        layer.scaling[adapter_name] = trained[adapter_name] * scale
    return len(layers)


def merge_adapter(transformer_model, adapter_dir: str | Path, scale: float = 1.0):
    """``transformer_model`` (a transformers model) with the PEFT adapter at ``adapter_dir`` folded
    into its weights, its update multiplied by ``scale`` first."""
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(transformer_model, str(adapter_dir))
    scale_adapter(peft_model, scale)
    return peft_model.merge_and_unload()


# ------------------------------------------------------------------------------ an adapter's base

ADAPTER_CONFIG = "adapter_config.json"
# The model commands load when neither --model nor an adapter's base names one.
DEFAULT_MODEL = "minilm"


def portable_model_name(model: str, path: Path) -> str:
    """What an adapter records as its base model: a zoo name or hub id as given (it resolves on any
    machine that has the model), a local directory as its absolute ``path``."""
    from cardiolora.models.registry import MODEL_REGISTRY

    if model in MODEL_REGISTRY or not Path(model).expanduser().is_dir():
        return model
    return str(path)


def record_base_model(adapter_dir: str | Path, base: str) -> None:
    """Write ``base`` as the ``base_model_name_or_path`` of the adapter's ``adapter_config.json``
    (PEFT stores the path the weights were loaded from: a virtualenv path that exists on one machine)."""
    from cardiolora.io import write_json_atomic

    config_file = Path(adapter_dir) / ADAPTER_CONFIG
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    write_json_atomic(config_file, config)


def _source_directory(source) -> Path | None:
    """Where a zoo source's model directory is or will be, without preparing it."""
    from cardiolora.models.sources import LocalDirectory, PackagedDirectory, PackagedGGUF, SplitZipPackages

    if isinstance(source, PackagedDirectory):
        return source._path()
    if isinstance(source, SplitZipPackages | PackagedGGUF):
        return source._target()
    if isinstance(source, LocalDirectory):
        return source.path
    return None


def zoo_name(model: str) -> str | None:
    """The zoo name ``model`` stands for: a zoo name, a zoo model's hub id, or the directory a zoo
    model loads from (its package, its cache directory or its Hugging Face cache snapshot)."""
    from cardiolora.models.registry import MODEL_REGISTRY

    if model in MODEL_REGISTRY:
        return model
    by_hub_id = {spec.hub_id: spec.name for spec in MODEL_REGISTRY.values()}
    if model in by_hub_id and not Path(model).expanduser().exists():
        return by_hub_id[model]
    path = Path(model).expanduser()
    if not path.is_absolute() or not path.is_dir():
        return None
    path = path.resolve()
    for part in path.parts:  # a hub cache snapshot: .../models--org--name/snapshots/<revision>
        if part.startswith("models--") and part[len("models--") :].replace("--", "/") in by_hub_id:
            return by_hub_id[part[len("models--") :].replace("--", "/")]
    for spec in MODEL_REGISTRY.values():
        for source in spec.sources:
            directory = _source_directory(source)
            if directory is not None and directory.exists() and directory.resolve() == path:
                return spec.name
    return None


def adapter_base_model(adapter_dir: str | Path) -> str | None:
    """The model an adapter was trained on, as cardiolora loads it, or ``None`` when unknown.

    Read from ``adapter_config.json`` (cardiolora writes the zoo name there) and, for an adapter in a
    training run, from the run's ``config.json``. Adapters from before that, holding the absolute
    path PEFT wrote, still resolve: a zoo model's directory maps back to its zoo name, another
    existing directory stands for itself."""
    from cardiolora.io import read_json_object

    adapter_dir = Path(adapter_dir)
    candidates = [read_json_object(adapter_dir / ADAPTER_CONFIG).get("base_model_name_or_path")]
    if adapter_dir.name == "adapter":
        candidates.append(read_json_object(adapter_dir.parent / "config.json").get("model"))
    names = [c for c in candidates if isinstance(c, str) and c.strip()]
    for name in names:
        if (known := zoo_name(name)) is not None:
            return known
    for name in names:
        path = Path(name).expanduser()
        if path.is_absolute() and path.is_dir():
            return name
    for name in names:  # a hub id (looked up in the local cache when loaded)
        if "/" in name and not name.startswith(("/", ".", "~")) and not Path(name).exists():
            return name
    return None


def model_for_adapter(model: str | None, adapter_dir: str | Path | None) -> str:
    """The model to load an adapter onto: ``model`` when given, else the adapter's base model, else
    :data:`DEFAULT_MODEL`. A zoo model other than the one the adapter was trained on is refused."""
    if adapter_dir is None:
        return model or DEFAULT_MODEL
    base = adapter_base_model(adapter_dir)
    if model is None:
        return base or DEFAULT_MODEL
    check_base_model(model, adapter_dir, base)
    return model


def _identity(model: str) -> str | None:
    """What identifies a model across spellings: its zoo name, else its resolved directory, else
    None (a hub id not in the zoo: not compared)."""
    if (name := zoo_name(model)) is not None:
        return name
    path = Path(model).expanduser()
    return str(path.resolve()) if path.is_absolute() and path.is_dir() else None


def check_base_model(model: str, adapter_dir: str | Path, base: str | None) -> None:
    """Refuse ``model`` for an adapter trained on another zoo model (say an mpnet adapter on minilm):
    the weights would not fit, or worse, would load onto another network of the same shapes."""
    if base is None:
        return
    given, trained = _identity(model), _identity(base)
    if given is not None and trained is not None and given != trained:
        raise CardioloraError(
            f"adapter {adapter_dir} was trained on model {trained!r}, not {model!r}: leave out the model "
            f"(--model) to load the adapter's base, or give {trained!r}"
        )


def describe_load_failure(exc: BaseException) -> str:
    """A short reason for an adapter that did not load onto a model (PEFT and torch write pages)."""
    text = str(exc)
    # torch's "size mismatch for ..." page, or transformers' pointer to a report printed as a log line
    if "size mismatch" in text or "ignore_mismatched_sizes" in text:
        return "its weights have other shapes than the model's layers"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first if len(first) <= 200 else first[:197] + "..."
