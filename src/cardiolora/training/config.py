"""Training configuration: pydantic models, loadable from TOML, overridable from the command line.

The defaults start from the reference study's settings (LoRA r=16, alpha=32; AdamW (0.9, 0.999),
weight decay 0.01; 10% linear warm-up) and differ where the bundled evidence says so
(docs/recipes.md): every linear layer adapted, LoRA dropout 0, a larger learning rate, an
absolute-cosine term beside InfoNCE, length-grouped batches, and the base model as teacher on the
replay rows and on everyday English (what keeps the rest of medicine in place).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cardiolora.errors import CardioloraError, InputError
from cardiolora.evaluation.evalset import default_eval_sets

# The objectives that embed (anchor, positive, negative) columns in one pass (WeightedSumLoss can
# wrap them); the others train on labelled pairs or embed in GradCache mini-batches.
TRIPLET_LOSSES = ("infonce", "infonce+cosine", "triplet", "triplet+cosine")
LossName = Literal[
    "infonce", "infonce+cosine", "cached-infonce", "triplet", "triplet+cosine", "cosine", "cosent", "angle"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PeftSettings(_Strict):
    """Which PEFT method adapts which modules.

    ``target_modules``: module names, or the keywords ``attention`` (the zoo's attention query and
    value projections for the architecture: the study's choice) and ``all-linear`` (PEFT's keyword:
    every linear layer but the output head, attention and feed-forward alike). Default ``all-linear``:
    on the bundled cardiology set it raised both minilm's one-epoch separation (+0.096 -> +0.139 over
    zero-shot, alone; +0.21 with the other defaults) and its ROC-AUC (docs/recipes.md rows 13, 26,
    29); ``attention`` reproduces the study.
    """

    method: str = "lora"  # a name of cardiolora.training.peft_methods.PEFT_METHODS
    r: int = Field(16, ge=1, le=1024)
    alpha: int = Field(32, ge=1)
    # The study's 0.1 made no difference to quality (docs/recipes.md, GPU sweep: 0.247 against 0.248)
    # while LoRA dropout copies every adapted layer's input: 0 cuts a CPU step by about 40%.
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: ["all-linear"], min_length=1)
    # The fraction of the encoder's layers, counted from the output, that get adapters (1: all).
    # Below the lowest adapted layer nothing trains, so backward stops there and the forward keeps
    # no activations for it: at 0.5 a minilm CPU step ran 1.44x-1.52x faster (benchmarks/train_step_levers.py,
    # variant upper-half). A recipe change, judged on the dev sets in docs/recipes.md.
    upper_layers: float = Field(1.0, gt=0.0, le=1.0)

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        from cardiolora.training.peft_methods import PEFT_METHODS

        if value not in PEFT_METHODS:
            raise ValueError(f"unknown PEFT method {value!r}; one of {', '.join(PEFT_METHODS)}")
        return value

    @model_validator(mode="after")
    def _all_linear_alone(self) -> PeftSettings:
        if "all-linear" in self.target_modules and len(self.target_modules) > 1:
            raise ValueError("target_modules: 'all-linear' already names every linear layer; give it alone")
        return self


class LossSettings(_Strict):
    """The training objective.

    - ``infonce``: multiple-negatives ranking (InfoNCE) with in-batch and hard negatives.
    - ``infonce+cosine``: InfoNCE plus ``cosine_weight`` x an absolute term pulling anchor-positive
      cosines to ``positive_target`` and anchor-negative cosines to ``negative_target``. InfoNCE
      only ranks inside a batch; the separation score measures absolute cosines.
      ``mask_same_category`` keeps in-batch rows of the anchor's clinical category out of its
      negatives (pairs carry the category; see :class:`~cardiolora.training.losses.CategoryMaskedInfoNCELoss`).
      ``relation_targets`` grades the absolute term's positive target by the pair's relation, e.g.
      ``{category = 0.5}``: two members of one category are related, not synonyms.
      ``cosine_term`` scores that term: ``mse`` (each cosine to its target, the default) or
      ``cosent`` / ``angle`` (the targets only order the pairs across the batch; beside InfoNCE they
      let the space collapse to high cosines, docs/recipes.md row 20).
    - ``cached-infonce``: InfoNCE with GradCache, for effective batches far beyond memory.
    - ``triplet``: the study's ablation (Euclidean margin on anchor, positive, negative).
    - ``triplet+cosine``: triplet plus the same cosine-target term as ``infonce+cosine``.
    - ``cosine``, ``cosent``, ``angle``: absolute or rank-of-cosine objectives on labelled pairs
      (anchor-positive labelled ``positive_target``, anchor-negative ``negative_target``).

    ``preserve_weight`` (any loss over triplets) adds ``weight x (1 - cos(adapted, base))`` over the
    batch's anchors, the base embedding taken with the adapter switched off: the pairs teach what
    must move, the term keeps what the pretrained model knew about everything else.
    ``teacher_weight`` adds the same term over every text of the replay rows only (pairs of another
    organ system than ``TrainConfig.target_branch``): the base model is their teacher, so the rest
    of medicine stays where it was while the target specialty moves.
    """

    name: LossName = "infonce+cosine"
    temperature: float = Field(0.3, gt=0.0, le=1.0)
    symmetric: bool = False
    cosine_weight: float = Field(10.0, ge=0.0)
    cosine_term: Literal["mse", "cosent", "angle"] = "mse"
    positive_target: float = Field(0.8, ge=-1.0, le=1.0)
    negative_target: float = Field(0.1, ge=-1.0, le=1.0)
    mask_same_category: bool = False
    # Two members of one clinical category are related, not synonyms: the recommended data's
    # ``category`` pairs aim at 0.5 (docs/recipes.md rows 15-16 and 26-27).
    relation_targets: dict[str, Annotated[float, Field(ge=-1.0, le=1.0)]] = Field(
        default_factory=lambda: {"category": 0.5}
    )
    mini_batch_size: int = Field(32, ge=1)
    triplet_margin: float = Field(0.5, gt=0.0)
    preserve_weight: float = Field(0.0, ge=0.0)
    # The recommended data's replay rows keep the rest of medicine in place only with a teacher
    # (docs/recipes.md, "Adapting without forgetting"). Losses that are not over triplets ignore the
    # default; asking for it explicitly with them is an error.
    teacher_weight: float = Field(3.0, ge=0.0)
    # Whether the teacher also covers the replay rows' texts (else only the teacher-only texts).
    teacher_replay: bool = True

    @model_validator(mode="after")
    def _targets_ordered(self) -> LossSettings:
        if self.negative_target >= self.positive_target:
            raise ValueError("negative_target must be below positive_target")
        for name in ("preserve_weight", "teacher_weight"):
            if getattr(self, name) and self.name not in TRIPLET_LOSSES and name in self.model_fields_set:
                raise ValueError(f"{name} needs one of {', '.join(TRIPLET_LOSSES)}, not {self.name}")
        if self.name == "cached-infonce" and self.teacher_weight:
            # GradCache embeds in mini-batches without the teacher's base passes or the cosine term:
            # training would silently drop both (and forget the rest of medicine). Refused instead.
            raise ValueError(
                "cached-infonce (GradCache) has no teacher or cosine term: it would train without the teacher that "
                "keeps the rest of medicine in place. Use infonce+cosine (a smaller --batch-size with "
                "--gradient-accumulation), or pass teacher_weight = 0 (--teacher-weight 0) to accept that"
            )
        return self

    @property
    def applied_teacher_weight(self) -> float:
        """The teacher weight the objective applies (0 for losses that are not over triplets)."""
        return self.teacher_weight if self.name in TRIPLET_LOSSES else 0.0


class TrainConfig(_Strict):
    """Everything a training run needs; saved resolved as ``config.json`` in the run directory."""

    model: str = "minilm"
    data: Path
    out: Path
    # The first set is the target; every other one is a retention check (the adapter must not harm it).
    eval_sets: list[str] = Field(default_factory=default_eval_sets, min_length=1)
    # Concept-normalisation sets evaluated before and after training (descriptions -> diagnosis).
    normalisation_sets: list[str] = Field(default_factory=lambda: ["cardiology"])
    peft: PeftSettings = Field(default_factory=PeftSettings)
    loss: LossSettings = Field(default_factory=LossSettings)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(32, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    learning_rate: float = Field(5e-4, gt=0.0, le=1.0)
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    scheduler: Literal["linear", "cosine"] = "linear"
    weight_decay: float = Field(0.01, ge=0.0)
    # Pairs are short (99.7% of the recommended data's texts fit in 64 tokens:
    # docs/experiments/token_lengths.py); a batch is padded to its longest text, so a longer cap
    # costs time on a CPU for the few long definitions.
    max_seq_length: int | None = Field(64, ge=8)
    # Batches of rows of similar length (in-batch-negative losses): less padding, same texts; it
    # also raised cardiology ROC-AUC (docs/recipes.md, "Adapting without forgetting").
    group_by_length: bool = True
    seed: int = 0
    data_fraction: float = Field(1.0, gt=0.0, le=1.0)
    # Pairs whose ``branch`` is another organ system are replay (the teacher term keeps their texts
    # where the base model put them); None: no pair is replay.
    target_branch: str | None = "cardiovascular"
    # The teacher's targets (the base model's embeddings of the teacher and replay texts) computed once
    # before training instead of by a forward pass at every step (they do not change).
    cache_teacher: bool = True
    # Texts with no pair that the teacher term keeps in place: ``general-english`` (bundled everyday
    # English, see cardiolora.data.general), a file with one text a line, or None.
    teacher_texts: str | None = "general-english"
    # ``auto``: bf16 autocast where the machine runs bf16 natively (CUDA, or a CPU with AMX /
    # AVX-512 BF16), else fp32.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # The attention kernel while training. ``auto``: transformers' plain ("eager") attention on a CPU,
    # the model's default elsewhere. PyTorch's sdpa kernels made a minilm training step on this CPU
    # 1.10x slower (benchmarks/train_step_levers.py). Evaluation and serving keep the model's default.
    attention: Literal["auto", "eager", "sdpa"] = "auto"
    # The base model's own dropout (hidden and attention; 0.1 in BERT) while training; ``"model"`` (None)
    # keeps the model's. Not the adapter's dropout (``peft.dropout``). Off by default since 2026-12-07:
    # a CPU step 1.29x faster, and no bundled set moved beyond seed noise over three seeds
    # (docs/recipes.md, "Meaning, not words", row no-dropout).
    base_dropout: float | None = Field(0.0, ge=0.0, lt=1.0)
    load_in_8bit: bool = False
    eval_steps: int | None = Field(None, ge=1)
    early_stopping_patience: int | None = Field(None, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1)
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    eval_resamples: int = Field(1000, ge=100)
    trust_remote_code: bool = False

    @field_validator("teacher_texts")
    @classmethod
    def _none_means_none(cls, value: str | None) -> str | None:
        return None if value is None or value.strip().lower() in ("", "none") else value

    @field_validator("base_dropout", mode="before")
    @classmethod
    def _model_means_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "model" else value

    @model_validator(mode="before")
    @classmethod
    def _save_at_evaluations(cls, data: Any) -> Any:
        """With ``eval_steps`` and no ``save_steps``, save at every evaluation: the best checkpoint
        is kept among saved ones, so the trainer needs ``save_steps`` to be a multiple of
        ``eval_steps``, and the default 50 fits few intervals (the README's 40 among them)."""
        if not isinstance(data, dict) or data.get("save_steps") is not None:
            return data
        eval_steps = data.get("eval_steps")
        # An invalid eval_steps is left to its own field's error, not echoed as a second one.
        if isinstance(eval_steps, int) and not isinstance(eval_steps, bool) and eval_steps >= 1:
            data = {**data, "save_steps": eval_steps}
        return data

    @model_validator(mode="after")
    def _options_fit_together(self) -> TrainConfig:
        """Option combinations the trainer would refuse (with a traceback, after the zero-shot
        evaluation) or silently ignore, refused before anything is written."""
        if self.eval_steps is not None and self.save_steps % self.eval_steps:
            raise ValueError(
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps ({self.eval_steps}): the best "
                "checkpoint is kept among the saved ones; leave save_steps out to save at every evaluation"
            )
        if self.early_stopping_patience is not None and self.eval_steps is None:
            raise ValueError("early_stopping_patience counts evaluations and needs eval_steps")
        return self

    def resolved(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _format_validation_error(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(config)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{where}: {message}")
    return f"{source}: invalid training configuration: " + "; ".join(problems)


def build_config(values: dict[str, Any], source: str = "command line") -> TrainConfig:
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as exc:
        raise CardioloraError(_format_validation_error(exc, source)) from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict: UTF-8, a byte-order mark allowed (Windows editors write one).

    Raises :class:`InputError` naming the file (and line where known) for a missing or unreadable
    file, text that is not UTF-8, invalid TOML, or nesting too deep for the parser.
    """
    from cardiolora.io import read_text

    path = Path(path)
    text = read_text(path)  # tomllib.load would fail on a BOM and raise UnicodeDecodeError on bad bytes
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML ({exc})", path=path) from None
    except RecursionError:
        raise InputError("invalid TOML (nested too deeply)", path=path) from None


class _Null:
    """The value of ``--set key=none``: the field set to None. A plain None cannot say it, because
    a flag that was not given is None and is skipped when overrides are merged."""

    def __repr__(self) -> str:
        return "none"


NULL = _Null()


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` (command-line flags that were given) over ``base`` (the TOML file), nested."""
    merged = {**base}
    for key, value in overrides.items():
        if value is NULL:
            merged[key] = None
            continue
        if value is None:
            continue
        if isinstance(value, dict):
            merged[key] = merge_overrides(dict(merged.get(key) or {}), value)
        else:
            merged[key] = value
    return merged


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["loss.teacher_weight=2", "peft.target_modules=['query']"]`` as a nested dict of overrides.

    The value is a TOML value (``2``, ``true``, ``["a", "b"]``, ``"text"``); a bare word that is not
    one is taken as a string (``target_branch=nervous``), except ``none``, which sets the field to
    None (``max_seq_length=none``: no limit)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CardioloraError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            value = NULL if raw.strip() == "none" else tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            value = raw
        *parents, leaf = key.strip().split(".")
        node = overrides
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise CardioloraError(f"--set {item!r}: {part} is set both as a value and as a table")
        node[leaf] = value
    return overrides
