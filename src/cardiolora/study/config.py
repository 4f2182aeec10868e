"""The study configuration: one TOML file from data to report.

Schema (every key optional except ``models``; unknown keys are errors)::

    name = "my-study"            # default: the file's stem
    seed = 0

    [data]                       # either a pairs file or the ontology recipe
    pairs = "data/pairs.jsonl"   # JSONL/CSV anchor/positive[/negative] pairs
    sources = ["hpo", "icd10cm"] # or build from ontologies (cardiolora data ontology)
    branch = "cardiovascular"
    weights = {sibling = 5}      # relation -> pairs per concept (OntologyRecipe)
    replay_ratio = 0.5           # pairs from the other organ systems per target pair
    replay_branches = ["renal"]  # default: every other organ system

    [training]                   # any field of `cardiolora train`'s TOML but model/data/out/eval_sets
    epochs = 1
    peft = {r = 16}

    [evaluation]
    sets = ["cardiology"]                   # the first is the headline set
    transfer = ["pulmonology"]              # retention checks; default: every other bundled set
    resamples = 5000

    [bench]
    enabled = true
    iterations = 100
    warmup = 10
    batch_sizes = [1, 4, 16, 32]

    [[models]]
    name = "minilm"              # zoo name, model directory or cached hub id
    training = {batch_size = 32} # per-model overrides of [training]

    [ablation]                   # cartesian grid on one model
    model = "minilm"
    data_fraction = [0.25, 0.5, 1.0]
    rank = [8, 16, 32]           # LoRA alpha follows as 2 x rank (constant scaling)
    loss = ["infonce+cosine", "triplet"]
    peft = ["lora"]
"""

from __future__ import annotations

import itertools
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cardiolora.data.categories import DEFAULT_REPLAY_RATIO
from cardiolora.errors import CardioloraError, InputError, UnknownNameError
from cardiolora.evaluation.evalset import default_eval_sets
from cardiolora.training.config import TrainConfig, _format_validation_error, load_toml, merge_overrides

PRESETS = ("quick", "cpu-full", "paper")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSettings(_Strict):
    pairs: Path | None = None
    sources: list[str] = Field(default_factory=lambda: ["hpo", "icd10cm"])
    branch: str = "cardiovascular"
    weights: dict[str, float] = Field(default_factory=dict)
    # Pairs from the other organ systems per target pair (see ``cardiolora data ontology --replay-ratio``).
    replay_ratio: float = Field(DEFAULT_REPLAY_RATIO, ge=0.0)
    replay_branches: list[str] | None = None
    # Sentence-level pairs, as `cardiolora data ontology --diseases/--statements`: pairs per disease /
    # per bank entry of each relation, over the builders' defaults (true or absent: the defaults;
    # false: none).
    diseases: dict[str, float] | bool = True
    statements: dict[str, float] | bool = True

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in ("hpo", "icd10cm")]
        if unknown or not value:
            raise ValueError(f"sources must be a non-empty list of hpo / icd10cm, got {value}")
        return value


class EvaluationSettings(_Strict):
    sets: list[str] = Field(default_factory=lambda: ["cardiology"], min_length=1)
    # Retention checks: the adapter must not harm these (default: every other bundled set).
    transfer: list[str] = Field(default_factory=lambda: default_eval_sets()[1:])
    # Concept-normalisation sets (descriptions -> diagnosis) ranked beside the pairs.
    normalisation: list[str] = Field(default_factory=lambda: ["cardiology"])
    resamples: int = Field(5000, ge=100)

    @property
    def all_sets(self) -> list[str]:
        return list(dict.fromkeys([*self.sets, *self.transfer]))


class BenchStudySettings(_Strict):
    enabled: bool = True
    iterations: int = Field(100, ge=1)
    warmup: int = Field(10, ge=0)
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 4, 16, 32], min_length=1)
    throughput_texts: int = Field(128, ge=1)


class ModelEntry(_Strict):
    name: str
    training: dict[str, Any] = Field(default_factory=dict)
    trust_remote_code: bool = False


class AblationSettings(_Strict):
    model: str
    data_fraction: list[float] | None = None
    rank: list[int] | None = None
    loss: list[str] | None = None
    peft: list[str] | None = None

    @model_validator(mode="after")
    def _non_empty(self) -> AblationSettings:
        for axis in ("data_fraction", "rank", "loss", "peft"):
            values = getattr(self, axis)
            if values is not None and not values:
                raise ValueError(f"ablation.{axis} is an empty list: the grid would have no cell")
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"ablation.{axis} repeats a value: {values}")
        return self


class StudyConfig(_Strict):
    name: str = "study"
    seed: int = 0
    data: DataSettings = Field(default_factory=DataSettings)
    training: dict[str, Any] = Field(default_factory=dict)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    bench: BenchStudySettings = Field(default_factory=BenchStudySettings)
    models: list[ModelEntry] = Field(min_length=1)
    ablation: AblationSettings | None = None

    @model_validator(mode="after")
    def _unique_models(self) -> StudyConfig:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"models: a model is listed twice: {names}")
        for key in ("model", "data", "out", "eval_sets", "normalisation_sets"):
            if key in self.training or any(key in m.training for m in self.models):
                raise ValueError(f"training.{key} is set by the study itself and cannot be given")
        return self

    def resolved(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def slug(name: str) -> str:
    """A directory name for a model name, path or hub id."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "__", name.strip("/")).strip("_") or "model"


def ablation_cells(ablation: AblationSettings) -> list[tuple[str, dict[str, Any]]]:
    """The grid's cells as (name, training overrides), in a stable order."""
    axes = []
    for axis in ("data_fraction", "rank", "loss", "peft"):
        values = getattr(ablation, axis)
        if values:
            axes.append([(axis, v) for v in values])
    cells = []
    for combination in itertools.product(*axes):
        overrides: dict[str, Any] = {}
        parts = []
        for axis, value in combination:
            parts.append(f"{axis.replace('_', '-')}-{value}")
            if axis == "data_fraction":
                overrides["data_fraction"] = value
            elif axis == "rank":
                overrides.setdefault("peft", {}).update({"r": value, "alpha": 2 * value})
            elif axis == "loss":
                overrides.setdefault("loss", {})["name"] = value
            else:
                overrides.setdefault("peft", {})["method"] = value
        cells.append(("_".join(parts) or "base", overrides))
    return cells


def train_config_for(
    config: StudyConfig, model: ModelEntry | str, out: Path, data: Path, extra: dict[str, Any] | None = None
) -> TrainConfig:
    """The resolved training configuration of one model (or ablation cell) of the study."""
    from cardiolora.training import build_config

    entry = (
        model
        if isinstance(model, ModelEntry)
        else next((m for m in config.models if m.name == model), ModelEntry(name=model))
    )
    values = merge_overrides({"seed": config.seed, "report_to": []}, config.training)
    values = merge_overrides(values, entry.training)
    values = merge_overrides(values, extra or {})
    values.update(
        model=entry.name,
        data=str(data),
        out=str(out),
        # Every set the study evaluates, as `cardiolora train` evaluates every bundled one: the run's
        # metrics.json then has the retention table, like a run trained from the command line.
        eval_sets=list(config.evaluation.all_sets),
        normalisation_sets=list(config.evaluation.normalisation),
        trust_remote_code=entry.trust_remote_code or values.get("trust_remote_code", False),
    )
    return build_config(values, source=f"study {config.name!r}, model {entry.name!r}")


def _validate_deep(config: StudyConfig) -> None:
    """Build every training configuration now, so that a bad value fails before any work."""
    from cardiolora.evaluation import load_eval_set
    from cardiolora.models import MODEL_REGISTRY

    placeholder = Path("pairs.jsonl")
    for entry in config.models:
        train_config_for(config, entry, Path("out"), placeholder)
    if config.ablation:
        cells = ablation_cells(config.ablation)
        for _, overrides in cells:
            train_config_for(config, config.ablation.model, Path("out"), placeholder, overrides)
    for name in config.evaluation.all_sets:
        load_eval_set(name)
    if config.data.pairs is not None and not config.data.pairs.exists():
        raise InputError("file not found (data.pairs)", path=config.data.pairs)
    names = [m.name for m in config.models] + ([config.ablation.model] if config.ablation else [])
    for name in names:
        # A zoo name that is merely not downloaded is fine (reported, skipped); a name that is
        # neither a zoo entry nor a path is a typo.
        if name not in MODEL_REGISTRY and not Path(name).expanduser().exists() and "/" not in name:
            raise UnknownNameError("model", name, list(MODEL_REGISTRY))
    if config.data.weights:
        from cardiolora.data import OntologyRecipe

        OntologyRecipe(weights=config.data.weights)


def _apply_paths(values: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    pairs = (values.get("data") or {}).get("pairs")
    if pairs and not Path(pairs).is_absolute():
        values = {**values, "data": {**values["data"], "pairs": str(base_dir / pairs)}}
    return values


def parse_study(values: dict[str, Any], source: str, base_dir: Path | None = None) -> StudyConfig:
    if base_dir is not None:
        values = _apply_paths(values, base_dir)
    try:
        config = StudyConfig.model_validate(values)
    except ValidationError as exc:
        raise CardioloraError(
            _format_validation_error(exc, source).replace("training configuration", "study configuration")
        ) from None
    _validate_deep(config)
    return config


def load_study(path: str | Path) -> StudyConfig:
    """Read and fully validate a study TOML file (relative data paths are relative to the file)."""
    path = Path(path)
    values = load_toml(path)
    values.setdefault("name", path.stem)
    return parse_study(values, str(path), base_dir=path.parent)


def preset_path(name: str) -> Path:
    if name not in PRESETS:
        raise UnknownNameError("preset", name, list(PRESETS))
    return Path(str(resources.files("cardiolora") / "resources" / "studies" / f"{name}.toml"))


def load_preset(name: str) -> StudyConfig:
    return load_study(preset_path(name))
