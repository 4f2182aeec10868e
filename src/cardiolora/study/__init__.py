"""Multi-model studies from one TOML file: planning, a resumable runner, statistics and the report."""

from cardiolora.study.config import PRESETS, StudyConfig, load_preset, load_study, preset_path
from cardiolora.study.runner import Plan, Step, StudyRunner, plan_study, run_study

__all__ = [
    "PRESETS",
    "Plan",
    "Step",
    "StudyConfig",
    "StudyRunner",
    "load_preset",
    "load_study",
    "plan_study",
    "preset_path",
    "run_study",
]
