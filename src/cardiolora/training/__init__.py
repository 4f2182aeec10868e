"""Training: PEFT adapters with contrastive objectives on sentence-transformers' trainer."""

from cardiolora.training.config import LossSettings, PeftSettings, TrainConfig, build_config
from cardiolora.training.results import TrainingStats, TrainResult
from cardiolora.training.trainer import train

__all__ = ["LossSettings", "PeftSettings", "TrainConfig", "TrainResult", "TrainingStats", "build_config", "train"]
