"""Training: PEFT adapters with contrastive objectives on sentence-transformers' trainer."""

from cardiolora.training.config import LossSettings, PeftSettings, TrainConfig, build_config
from cardiolora.training.trainer import TrainResult, train

__all__ = ["LossSettings", "PeftSettings", "TrainConfig", "TrainResult", "build_config", "train"]
