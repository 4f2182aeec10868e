"""Before a run writes anything: every check that can fail on the user's input or this machine."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from cardiolora.data.records import PairRecord, load_pairs
from cardiolora.errors import CardioloraError
from cardiolora.evaluation import EvalSet, load_eval_set
from cardiolora.models import ResolvedModel, resolve_model
from cardiolora.training.config import TrainConfig
from cardiolora.training.run_directory import check_run_dir


@dataclass
class Prepared:
    """A run's checked inputs: the located model, the training pairs and the evaluation sets."""

    resolved: ResolvedModel
    pairs: list[PairRecord]
    eval_sets: list[EvalSet]
    normalisation_sets: list = field(default_factory=list)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_precision(precision: str) -> str:
    """``auto`` as this machine runs it: bf16 where bf16 is native, else fp32; others unchanged."""
    if precision != "auto":
        return precision
    import torch

    from cardiolora.embedding.embedder import bf16_supported

    return "bf16" if bf16_supported("cuda" if torch.cuda.is_available() else "cpu") else "fp32"


def resolve_attention(attention: str, *, requires_remote_code: bool = False) -> str | None:
    """The ``attn_implementation`` to train with, or None for the model's own.

    ``auto`` is ``eager`` on a CPU, where PyTorch's sdpa kernels made a training step slower, and the
    model's default on CUDA (whose fused kernels are fast); a model with its own code keeps its own.
    """
    if attention != "auto":
        return attention
    import torch

    if torch.cuda.is_available() or requires_remote_code:
        return None
    return "eager"


def check_hardware(config: TrainConfig) -> None:
    """Refuse settings this machine cannot run (8-bit and fp16 need CUDA; bf16 needs native support)."""
    import torch

    if config.load_in_8bit and not torch.cuda.is_available():
        raise CardioloraError("--load-in-8bit needs a CUDA GPU (bitsandbytes); none is available here")
    if config.precision == "fp16" and not torch.cuda.is_available():
        raise CardioloraError("--precision fp16 needs a CUDA GPU; use bf16 or fp32 on a CPU")
    if config.precision == "bf16":
        from cardiolora.embedding.embedder import bf16_supported

        if not bf16_supported("cuda" if torch.cuda.is_available() else "cpu"):
            raise CardioloraError("--precision bf16 is not supported natively on this machine; use fp32")


def prepare(config: TrainConfig, *, resume: bool = False, overwrite: bool = False) -> Prepared:
    """Every check that can fail on the user's input, before anything is written."""

    if resume and overwrite:
        raise CardioloraError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    # Under torchrun only rank 0 owns the run directory (the others would see its fresh files).
    if is_main_process():
        check_run_dir(config.out, resume=resume, overwrite=overwrite)
    check_hardware(config)
    resolved = resolve_model(config.model)
    eval_sets = [load_eval_set(name) for name in config.eval_sets]
    from cardiolora.evaluation.normalisation import load_normalisation_set

    normalisation_sets = [load_normalisation_set(name) for name in config.normalisation_sets]
    pairs = load_pairs(config.data)
    if config.data_fraction < 1.0:
        rng = random.Random(config.seed)
        pairs = rng.sample(pairs, max(1, round(len(pairs) * config.data_fraction)))
    if len(pairs) < 2:
        raise CardioloraError(f"{config.data}: at least 2 pairs are needed to train, found {len(pairs)}")
    # A pair without a negative borrows another pair's positive, which needs two distinct positives.
    if any(not p.negative for p in pairs) and len({p.positive for p in pairs}) < 2:
        raise CardioloraError(f"{config.data}: pairs without a negative need at least 2 distinct positives")
    if config.teacher_texts and config.loss.applied_teacher_weight:
        from cardiolora.data.general import teacher_texts

        teacher_texts(config.teacher_texts)  # a missing file or package fails here, before any output
    if config.report_to and "tensorboard" in config.report_to:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise CardioloraError(
                "report_to includes tensorboard, which is not installed; pip install tensorboard"
            ) from None
    return Prepared(resolved, pairs, eval_sets, normalisation_sets)
