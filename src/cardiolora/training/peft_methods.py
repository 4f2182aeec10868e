"""The PEFT methods ``cardiolora train --peft`` knows: one table from a method's name to the PEFT
config it builds (as PEFT's own ``PEFT_TYPE_TO_CONFIG_MAPPING`` maps names to config classes).

A method is added here and nowhere else: the configuration's ``peft.method`` accepts the table's
names, the CLI's help lists them, and the trainer builds the adapter through :func:`peft_config`.

Example::

    from cardiolora.training.config import PeftSettings
    from cardiolora.training.peft_methods import peft_config

    peft_config(PeftSettings(method="dora", r=8, alpha=16), "all-linear", total_steps=100)
    # LoraConfig(r=8, lora_alpha=16, use_dora=True, target_modules='all-linear', ...)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cardiolora.training.config import PeftSettings

# BERT-style poolers feed no sentence embedding (cardiolora pools the token states): adapted, they
# would never train, and DDP refuses parameters that take no part in the loss.
UNUSED_LINEAR = r".*\bpooler\..*"


@dataclass(frozen=True)
class PeftMethod:
    """One PEFT method: what it is, how its PEFT config is built, whether its update has a scale
    (``--adapter-scale`` multiplies LoRA-family updates; IA3 learns scaling vectors and has none)."""

    description: str
    build: Callable[[PeftSettings, str | list[str], str | None, int], Any]
    scalable: bool


def _lora(settings: PeftSettings, targets: str | list[str], exclude: str | None, total_steps: int):
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        use_dora=settings.method == "dora",
        exclude_modules=exclude,
    )


def _ia3(settings: PeftSettings, targets: str | list[str], exclude: str | None, total_steps: int):
    from peft import IA3Config

    # IA3 scales a feed-forward layer's input instead of its output; with ``all-linear`` the layers
    # are not named ahead, and every one scales its output.
    feedforward = [] if isinstance(targets, str) else [m for m in targets if m in ("dense", "down_proj", "fc2")]
    return IA3Config(target_modules=targets, feedforward_modules=feedforward, exclude_modules=exclude)


def _adalora(settings: PeftSettings, targets: str | list[str], exclude: str | None, total_steps: int):
    from peft import AdaLoraConfig

    # AdaLoRA prunes ranks on a schedule over the whole run: it needs the run's length, and starts
    # from r to end at r / 2.
    return AdaLoraConfig(
        init_r=settings.r,
        target_r=max(1, settings.r // 2),
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        total_step=max(total_steps, 10),
        exclude_modules=exclude,
    )


PEFT_METHODS: dict[str, PeftMethod] = {
    "lora": PeftMethod("low-rank update B A of each adapted weight (the study's method)", _lora, True),
    "dora": PeftMethod("LoRA on the direction of each weight, its magnitude learned apart", _lora, True),
    "ia3": PeftMethod("learned vectors scaling activations (fewest parameters)", _ia3, False),
    "adalora": PeftMethod("LoRA whose rank is pruned per layer during training", _adalora, True),
}


# A module inside one of a transformer's numbered layers (encoders' ``layer.N``, decoders' ``layers.N``,
# GPT-2's ``h.N``, others' ``block(s).N``).
_LAYER_LIST = r"\b(layer|layers|h|block|blocks)\."
LAYER_NAME = re.compile(_LAYER_LIST + r"\d+\.")


def lower_layers_pattern(num_layers: int, upper_layers: float) -> str | None:
    """A regex of the modules in the layers below the upper ``upper_layers`` fraction of ``num_layers``
    (at least one layer stays adapted), or None when every layer is adapted. It matches the layer
    lists of encoders (``encoder.layer.N``) and decoders (``layers.N``, ``h.N``, ``blocks.N``).

    PEFT's own ``layers_to_transform`` refuses the ``all-linear`` keyword, so the lower layers are
    excluded by name instead."""
    adapted = max(1, round(num_layers * upper_layers))
    if adapted >= num_layers:
        return None
    lower = "|".join(str(i) for i in range(num_layers - adapted))
    return rf".*{_LAYER_LIST}({lower})\..*"


def peft_config(settings: PeftSettings, targets: str | list[str], total_steps: int, num_layers: int | None = None):
    """The PEFT config of ``settings.method`` on ``targets`` (module names, or ``"all-linear"``),
    for a run of ``total_steps`` optimizer steps, on a model of ``num_layers`` layers (needed when
    ``settings.upper_layers`` leaves the lower layers out)."""
    patterns = [UNUSED_LINEAR] if targets == "all-linear" else []
    if settings.upper_layers < 1.0:
        if not num_layers:
            raise ValueError("peft.upper_layers needs the model's number of layers (config.num_hidden_layers)")
        lower = lower_layers_pattern(num_layers, settings.upper_layers)
        patterns += [lower] if lower else []
    exclude = "|".join(f"(?:{p})" for p in patterns) if patterns else None
    return PEFT_METHODS[settings.method].build(settings, targets, exclude, total_steps)
