"""What a training run returns: the run's paths, its ``metrics.json``, the evaluations before and
after training and the trainer's statistics, as typed objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cardiolora.evaluation import EvaluationReport, RetentionRow


@dataclass(frozen=True)
class TrainingStats:
    """What the trainer did: ``metrics.json``'s ``training`` entry."""

    pairs: int
    rows: int
    global_step: int
    train_loss: float
    seconds: float
    rows_per_second: float
    trainable_parameters: int
    total_parameters: int
    world_size: int
    precision: str
    # The attention kernel the model trained with (transformers' ``attn_implementation``); runs from
    # before it was recorded read as "unrecorded".
    attention: str = "unrecorded"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingStats:
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


@dataclass
class TrainResult:
    """A finished run. ``metrics`` is ``metrics.json`` as written (empty on torchrun ranks other than
    0, where ``zero_shot``, ``final`` and ``training`` are None too); ``zero_shot`` and ``final`` are
    the evaluations before and after training (``zero_shot`` None when it was skipped)."""

    run_dir: Path
    adapter_dir: Path
    metrics: dict[str, Any]
    zero_shot: EvaluationReport | None = None
    final: EvaluationReport | None = None
    training: TrainingStats | None = None

    @property
    def retention(self) -> list[RetentionRow]:
        """Zero-shot against adapted on every non-target set (empty without a zero-shot evaluation)."""
        return [RetentionRow.from_dict(row) for row in self.metrics.get("retention", [])]

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "adapter_dir": str(self.adapter_dir), **self.metrics}
