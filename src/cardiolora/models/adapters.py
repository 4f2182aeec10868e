"""Adapters on a loaded model: scaling a LoRA update, merging it into the weights."""

from __future__ import annotations

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
