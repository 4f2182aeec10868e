"""No drift between ``cardiolora train``'s options and :class:`TrainConfig`: every configuration field
is reachable from the command line (``--set`` reaches all of them), and every dedicated flag sets the
field it is named for."""

from __future__ import annotations

import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.training import TrainResult
from cardiolora.training.config import TrainConfig

runner = CliRunner()

# A valid value other than the default for every leaf field, as `--set` takes it (TOML). A field
# added to TrainConfig without an entry here fails test_the_table_covers_every_field.
SET_VALUES = {
    "model": ("mpnet", "mpnet"),
    "data": ("other.jsonl", "other.jsonl"),
    "out": ("elsewhere", "elsewhere"),
    "eval_sets": ('["pulmonology"]', ["pulmonology"]),
    "normalisation_sets": ("[]", []),
    "peft.method": ("dora", "dora"),
    "peft.r": ("4", 4),
    "peft.alpha": ("8", 8),
    "peft.dropout": ("0.05", 0.05),
    "peft.target_modules": ('["query", "value"]', ["query", "value"]),
    "peft.upper_layers": ("0.5", 0.5),
    "loss.name": ("triplet", "triplet"),
    "loss.temperature": ("0.05", 0.05),
    "loss.symmetric": ("true", True),
    "loss.cosine_weight": ("2.5", 2.5),
    "loss.cosine_term": ("cosent", "cosent"),
    "loss.positive_target": ("0.7", 0.7),
    "loss.negative_target": ("0.2", 0.2),
    "loss.mask_same_category": ("true", True),
    "loss.relation_targets": ("{category = 0.4, sibling = 0.9}", {"category": 0.4, "sibling": 0.9}),
    "loss.mini_batch_size": ("8", 8),
    "loss.triplet_margin": ("0.3", 0.3),
    "loss.preserve_weight": ("1.5", 1.5),
    "loss.teacher_weight": ("0.5", 0.5),
    "loss.teacher_replay": ("false", False),
    "epochs": ("2.5", 2.5),
    "max_steps": ("7", 7),
    "batch_size": ("16", 16),
    "gradient_accumulation": ("3", 3),
    "learning_rate": ("0.001", 0.001),
    "warmup_ratio": ("0.2", 0.2),
    "scheduler": ("cosine", "cosine"),
    "weight_decay": ("0.1", 0.1),
    "max_seq_length": ("none", None),
    "group_by_length": ("false", False),
    "seed": ("5", 5),
    "data_fraction": ("0.5", 0.5),
    "target_branch": ("respiratory", "respiratory"),
    "teacher_texts": ("none", None),
    "cache_teacher": ("false", False),
    "precision": ("fp32", "fp32"),
    "attention": ("eager", "eager"),
    "base_dropout": ("0.05", 0.05),
    "load_in_8bit": ("true", True),
    "eval_steps": ("10", 10),
    "early_stopping_patience": ("2", 2, "eval_steps=10"),
    "save_steps": ("5", 5),
    "save_total_limit": ("4", 4),
    "report_to": ("[]", []),
    "eval_resamples": ("200", 200),
    "trust_remote_code": ("true", True),
}

# Every dedicated flag: the field it sets and a value for it (options that are not fields last).
FLAGS = {
    "--model": ("model", ["mpnet"], "mpnet"),
    "--data": ("data", ["other.jsonl"], "other.jsonl"),
    "--eval-set": ("eval_sets", ["pulmonology", "-e", "nephrology"], ["pulmonology", "nephrology"]),
    "--out": ("out", ["elsewhere"], "elsewhere"),
    "--peft": ("peft.method", ["ia3"], "ia3"),
    "--rank": ("peft.r", ["4"], 4),
    "--alpha": ("peft.alpha", ["8"], 8),
    "--dropout": ("peft.dropout", ["0.05"], 0.05),
    "--target-module": ("peft.target_modules", ["query", "--target-module", "value"], ["query", "value"]),
    "--loss": ("loss.name", ["cosent"], "cosent"),
    "--temperature": ("loss.temperature", ["0.05"], 0.05),
    "--symmetric": ("loss.symmetric", [], True),
    "--cosine-weight": ("loss.cosine_weight", ["2.5"], 2.5),
    "--cosine-term": ("loss.cosine_term", ["angle"], "angle"),
    "--mini-batch-size": ("loss.mini_batch_size", ["8"], 8),
    "--relation-target": ("loss.relation_targets", ["sibling=0.9"], {"sibling": 0.9}),
    "--mask-same-category": ("loss.mask_same_category", [], True),
    "--preserve-weight": ("loss.preserve_weight", ["1.5"], 1.5),
    "--teacher-weight": ("loss.teacher_weight", ["0.5"], 0.5),
    "--teacher-texts": ("teacher_texts", ["none"], None),
    "--target-branch": ("target_branch", ["respiratory"], "respiratory"),
    "--epochs": ("epochs", ["2.5"], 2.5),
    "--max-steps": ("max_steps", ["7"], 7),
    "--batch-size": ("batch_size", ["16"], 16),
    "--gradient-accumulation": ("gradient_accumulation", ["3"], 3),
    "--lr": ("learning_rate", ["0.001"], 0.001),
    "--scheduler": ("scheduler", ["cosine"], "cosine"),
    "--max-seq-length": ("max_seq_length", ["128"], 128),
    "--data-fraction": ("data_fraction", ["0.5"], 0.5),
    "--precision": ("precision", ["fp32"], "fp32"),
    "--load-in-8bit": ("load_in_8bit", [], True),
    "--eval-steps": ("eval_steps", ["10"], 10),
    "--early-stopping": ("early_stopping_patience", ["2", "--eval-steps", "10"], 2),
    "--save-steps": ("save_steps", ["5"], 5),
    "--report-to": ("report_to", ["none"], []),
    "--seed": ("seed", ["5"], 5),
    "--trust-remote-code": ("trust_remote_code", [], True),
}
NOT_FIELDS = {"--config", "--set", "--resume", "--overwrite"}


def leaf_fields(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names += leaf_fields(field.annotation, f"{prefix}{name}.")
        else:
            names.append(prefix + name)
    return names


def value_at(config: TrainConfig, path: str):
    value = config
    for part in path.split("."):
        value = getattr(value, part)
    return str(value) if path in ("data", "out") else value


@pytest.fixture
def captured(monkeypatch):
    """`cardiolora train` as far as its configuration: the run itself is replaced by a recorder."""
    configs = []

    def record(config, **_kwargs):
        configs.append(config)
        return TrainResult(config.out, config.out / "adapter", {})

    monkeypatch.setattr("cardiolora.training.train", record)

    def invoke(*args: str) -> TrainConfig:
        result = runner.invoke(app, ["train", "--data", "pairs.jsonl", "--out", "run", *args])
        assert result.exit_code == 0, result.output
        return configs.pop()

    return invoke


def train_options() -> set[str]:
    command = typer.main.get_command(app).commands["train"]
    # typer's options are not click.Option instances in every typer version: read what they say.
    return {opt for param in command.params if param.param_type_name == "option" for opt in param.opts}


def test_the_table_covers_every_field():
    assert set(SET_VALUES) == set(leaf_fields())


@pytest.mark.parametrize("path", leaf_fields())
def test_every_field_is_reachable_with_set(captured, path):
    default = TrainConfig(data="pairs.jsonl", out="run")
    raw, expected, *needs = SET_VALUES[path]  # needs: another setting this one only works with
    assert value_at(default, path) != expected, f"{path}: the table's value is the default"
    extra = [arg for setting in needs for arg in ("--set", setting)]
    assert value_at(captured("--set", f"{path}={raw}", *extra), path) == expected


def test_every_dedicated_flag_sets_its_field(captured):
    long_names = {name for name in train_options() if name.startswith("--")}
    # --no-X is the off switch of --X; --learning-rate the long name of --lr.
    flag_names = {name for name in long_names if not name.startswith("--no-")} - {"--learning-rate"}
    assert flag_names == set(FLAGS) | NOT_FIELDS
    default = TrainConfig(data="pairs.jsonl", out="run")
    for flag, (path, values, expected) in FLAGS.items():
        config = captured(flag, *values)  # --data and --out: the fixture gives them first, the last one wins
        assert value_at(config, path) == expected != value_at(default, path), flag
