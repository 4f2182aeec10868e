"""A training run: validate everything, adapt the model with PEFT on sentence-transformers' trainer,
evaluate before and after, and leave a self-describing run directory.

Run directory::

    .cardiolora-run    marker: this directory is a cardiolora run (``--overwrite`` replaces only runs)
    config.json        the resolved configuration
    versions.json      package versions
    adapter/           adapter_model.safetensors + adapter_config.json (PEFT)
    metrics.json       zero-shot and final evaluation, training statistics, evaluation history
    README.md          model card
    checkpoints/       trainer checkpoints (resume)
    logs/              TensorBoard logs

While a run trains, its directory is locked (``.NAME.lock`` beside it, holding the pid): a second
process that would train into it is refused. ``--overwrite`` builds the new run in a staging
directory beside the old one (``.NAME.cardiolora-staging``) and swaps it in at the end; until then
the old run is untouched, and a failed run removes only the staging directory. ``--resume`` trains
in the run directory itself.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardiolora.data.records import PairRecord, load_pairs
from cardiolora.errors import CardioloraError
from cardiolora.evaluation import EvalSet, load_eval_set, retention_table, retention_warnings
from cardiolora.io import (
    lock_directory,
    read_json_object,
    refuse_foreign_directory,
    replace_directory,
    write_json_atomic,
    write_text_atomic,
)
from cardiolora.models import ResolvedModel, resolve_model
from cardiolora.models.adapters import portable_model_name, record_base_model
from cardiolora.training.config import TrainConfig
from cardiolora.training.losses import build_loss, needs_labels, uses_in_batch_negatives
from cardiolora.training.peft_methods import peft_config
from cardiolora.versions import package_versions

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
RUN_MARKER = ".cardiolora-run"
RUN_SCHEMA = "cardiolora.run/v1"
# The dataset column of texts only the teacher term sees (after the ranked columns, before the label).
TEACHER_COLUMN = "teacher"


@dataclass
class TrainResult:
    run_dir: Path
    adapter_dir: Path
    metrics: dict[str, Any]


@dataclass
class _Prepared:
    resolved: ResolvedModel
    pairs: list[PairRecord]
    eval_sets: list[EvalSet]


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_precision(precision: str) -> str:
    """``auto`` as this machine runs it: bf16 where bf16 is native, else fp32; others unchanged."""
    if precision != "auto":
        return precision
    import torch

    from cardiolora.embedding.embedder import bf16_supported

    return "bf16" if bf16_supported("cuda" if torch.cuda.is_available() else "cpu") else "fp32"


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


def is_run_directory(path: str | Path) -> bool:
    """Whether ``path`` holds a cardiolora training run, by its own files: the marker every run
    writes first, a ``metrics.json`` of the run schema, or (runs from before the marker) a
    ``config.json`` shaped like a training configuration. A configuration is not validated: a run
    that an option combination crashed is a run, and may be replaced."""
    path = Path(path)
    if read_json_object(path / RUN_MARKER).get("schema") == RUN_SCHEMA:
        return True
    if read_json_object(path / "metrics.json").get("schema") == RUN_SCHEMA:
        return True
    config = read_json_object(path / "config.json")
    return (
        {"model", "data", "out", "peft", "loss"} <= config.keys()
        and isinstance(config["peft"], dict) and "method" in config["peft"]
        and isinstance(config["loss"], dict) and "name" in config["loss"]
    )  # fmt: skip


def check_run_dir(run_dir: str | Path, *, resume: bool = False, overwrite: bool = False) -> None:
    """What ``--out`` holds decides what may happen to it: a missing or empty directory takes a new
    run; an unfinished run continues with ``resume``; any run (finished or not) is replaced with
    ``overwrite``; a directory that is not a cardiolora run is never trained into or replaced."""
    run_dir = Path(run_dir)
    if overwrite:
        refuse_foreign_directory(run_dir, is_run_directory, "cardiolora run directory")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise CardioloraError(f"--out {run_dir} exists and is not a directory")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return
    if not is_run_directory(run_dir):
        raise CardioloraError(
            f"--out {run_dir} is not empty and is not a cardiolora run directory; choose another --out"
        )
    if (run_dir / "metrics.json").exists():
        raise CardioloraError(f"{run_dir} holds a finished run; pass --overwrite to replace it")
    if not resume:
        raise CardioloraError(f"{run_dir} holds an unfinished run; pass --resume to continue it or --overwrite")


def staging_dir(run_dir: str | Path) -> Path:
    """Where ``--overwrite`` builds the new run: beside the old one (one file system, so the swap is
    a rename), hidden, and named from ``--out`` alone, so that every torchrun rank writes its share
    of a checkpoint into the same directory."""
    run_dir = Path(os.path.abspath(run_dir))
    return run_dir.parent / f".{run_dir.name}.cardiolora-staging"


def prepare(config: TrainConfig, *, resume: bool = False, overwrite: bool = False) -> _Prepared:
    """Every check that can fail on the user's input, before anything is written."""

    if resume and overwrite:
        raise CardioloraError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    # Under torchrun only rank 0 owns the run directory (the others would see its fresh files).
    if _is_main_process():
        check_run_dir(config.out, resume=resume, overwrite=overwrite)
    check_hardware(config)
    resolved = resolve_model(config.model)
    eval_sets = [load_eval_set(name) for name in config.eval_sets]
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
    return _Prepared(resolved, pairs, eval_sets)


def _dataset(pairs: list[PairRecord], config: TrainConfig):
    """Triplets for ranking losses (a missing negative is another pair's positive, like an in-batch
    negative); labelled pairs for the absolute-cosine objectives."""
    from datasets import Dataset

    rng = random.Random(config.seed)
    positives = [p.positive for p in pairs]

    def negative_of(pair: PairRecord) -> str:
        if pair.negative:
            return pair.negative
        while True:
            candidate = rng.choice(positives)
            if candidate != pair.positive:
                return candidate

    if needs_labels(config.loss):
        left, right, score = [], [], []
        for pair in pairs:
            left += [pair.anchor, pair.anchor]
            right += [pair.positive, negative_of(pair)]
            score += [config.loss.positive_target, config.loss.negative_target]
        return Dataset.from_dict({"sentence1": left, "sentence2": right, "score": score})
    columns = {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}
    if config.loss.name.startswith("triplet") or any(p.negative for p in pairs):
        columns["negative"] = [negative_of(p) for p in pairs]
    if config.teacher_texts and config.loss.applied_teacher_weight:
        # Texts only the teacher sees, one a row, in a seeded order (each used about equally often).
        from cardiolora.data.general import teacher_texts

        texts = teacher_texts(config.teacher_texts)
        rng.shuffle(texts)
        columns[TEACHER_COLUMN] = length_matched(
            [texts[i % len(texts)] for i in range(len(pairs))],
            [max(len(text) for text in texts_of_row) for texts_of_row in zip(*columns.values(), strict=True)],
        )
    graded = config.loss.relation_targets and any(p.relation in config.loss.relation_targets for p in pairs)
    if config.loss.mask_same_category or graded or config.loss.applied_teacher_weight:
        # One label per row: [category id (-1: none), the row's positive cosine target, 1 for a replay
        # row (another organ system than the target branch: the teacher term keeps its texts in place)].
        ids = {name: i for i, name in enumerate(sorted({p.category for p in pairs if p.category}))}
        targets = config.loss.relation_targets
        columns["label"] = [
            [
                float(ids.get(p.category, -1)),
                targets.get(p.relation, config.loss.positive_target),
                float(config.loss.teacher_replay and is_replay(p, config.target_branch)),
            ]
            for p in pairs
        ]
    return Dataset.from_dict(columns)


def length_matched(texts: list[str], row_lengths: list[int]) -> list[str]:
    """``texts`` reassigned to rows so that the longest text goes to the longest row, and so on.

    Why: sentence-transformers embeds a batch's columns in one forward pass padded to the longest
    text of any column, so a long teacher text beside a short pair pads every text of the batch to
    its length. The texts used, and how often, stay the same; only which row carries which changes
    (the teacher term averages over every row, so the pairing carries no signal)."""
    by_length = sorted(texts, key=len)
    rows = sorted(range(len(row_lengths)), key=row_lengths.__getitem__)
    matched = [""] * len(rows)
    for text, row in zip(by_length, rows, strict=True):
        matched[row] = text
    return matched


def is_replay(pair: PairRecord, target_branch: str | None) -> bool:
    """A pair of another organ system than the one the adapter is for."""
    return bool(target_branch and pair.branch and pair.branch != target_branch)


def _batch_sampler(config: TrainConfig, ranking: bool):
    """In-batch-negative losses need batches without repeated texts; grouped by length, they carry
    less padding (see :mod:`cardiolora.training.sampler`)."""
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from cardiolora.training.sampler import LengthGroupedNoDuplicatesBatchSampler

    if not ranking:
        return BatchSamplers.BATCH_SAMPLER
    return LengthGroupedNoDuplicatesBatchSampler if config.group_by_length else BatchSamplers.NO_DUPLICATES


def resolve_targets(target_modules: list[str], spec) -> str | list[str]:
    """PEFT's ``target_modules`` for a model: ``attention`` becomes the zoo's names for the
    architecture; ``all-linear`` is passed to PEFT as its own keyword."""
    if target_modules == ["all-linear"]:
        return "all-linear"
    names = [n for name in target_modules for n in (spec.lora_targets if name == "attention" else (name,))]
    return list(dict.fromkeys(names))


def count_parameters(module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in module.parameters())
    return trainable, total


def _last_checkpoint(run_dir: Path) -> str | None:
    """The newest complete checkpoint. A process killed while saving leaves a checkpoint directory
    without its trainer state (written last); resuming from it would fail, so it is skipped."""
    checkpoints = sorted(
        (p for p in (run_dir / CHECKPOINTS).glob("checkpoint-*") if (p / "trainer_state.json").exists()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    return str(checkpoints[-1]) if checkpoints else None


def _clear(directory: Path, existed: bool) -> None:
    """Undo a run that failed on bad input: remove the directory it created, or empty the empty
    directory it was given."""
    if not existed:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def train(
    config: TrainConfig, *, resume: bool = False, overwrite: bool = False, evaluate_zero_shot: bool = True, log=print
) -> TrainResult:
    """Train an adapter as ``config`` says; see the module docstring for what the run directory holds.

    The run directory is locked while the run trains. ``overwrite`` trains in a staging directory
    and swaps it in at the end (the old run stays as it was until then, and whatever stops the new
    one removes only the staging directory); ``resume`` continues in the run directory. A new run
    that fails on bad input leaves no run directory; one that is killed or crashes is continued with
    ``resume``. ``evaluate_zero_shot=False`` skips the evaluation of the base model before training
    (a study evaluates it once per model, not once per run)."""
    prepared = prepare(config, resume=resume, overwrite=overwrite)
    run_dir = Path(config.out)
    work_dir = staging_dir(run_dir) if overwrite else run_dir
    if not _is_main_process():
        # Rank 0 owns (locks, creates, swaps) the directory; every rank trains in the same work_dir.
        metrics = _train(config, prepared, work_dir, resume=resume, evaluate_zero_shot=evaluate_zero_shot, log=log)
        return TrainResult(run_dir, run_dir / "adapter", metrics)
    with lock_directory(run_dir, what="run directory"):
        check_run_dir(run_dir, resume=resume, overwrite=overwrite)  # again: it may have changed before the lock
        existed = run_dir.exists()
        fresh = not existed or not any(run_dir.iterdir())
        if overwrite and work_dir.exists():
            shutil.rmtree(work_dir)  # left by a killed --overwrite; the lock says no one else builds it
        try:
            metrics = _train(config, prepared, work_dir, resume=resume, evaluate_zero_shot=evaluate_zero_shot, log=log)
        except BaseException as exc:
            if overwrite:
                shutil.rmtree(work_dir, ignore_errors=True)  # the old run stays as it was
            elif fresh and isinstance(exc, CardioloraError):
                _clear(run_dir, existed)  # bad input leaves nothing behind
            raise
        if overwrite:
            replace_directory(work_dir, run_dir)
    return TrainResult(run_dir, run_dir / "adapter", metrics)


def _train(
    config: TrainConfig, prepared: _Prepared, work_dir: Path, *, resume: bool, evaluate_zero_shot: bool, log
) -> dict[str, Any]:
    """The run itself, written into ``work_dir`` (the run directory, or the staging directory of
    ``--overwrite``); returns the metrics (empty on ranks other than 0)."""
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import EarlyStoppingCallback

    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import evaluate_embedder
    from cardiolora.models import load_sentence_transformer
    from cardiolora.training.evaluator import SeparationEvaluator

    run_dir = work_dir  # everything below writes here; the swap into --out is the caller's
    main = _is_main_process()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / RUN_MARKER, {"schema": RUN_SCHEMA})
        write_json_atomic(run_dir / "config.json", config.resolved())
        write_json_atomic(run_dir / "versions.json", package_versions(("datasets", "accelerate")))

    spec = prepared.resolved.spec
    # The adapter's initial weights are drawn when it is added, before the trainer seeds anything:
    # without this, two runs of one seed start from different adapters (and end 0.01 ROC-AUC apart).
    from transformers import set_seed

    set_seed(config.seed)
    model_kwargs: dict[str, Any] = {}
    if config.load_in_8bit:
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    model = load_sentence_transformer(
        prepared.resolved, trust_remote_code=config.trust_remote_code, max_seq_length=config.max_seq_length,
        model_kwargs=model_kwargs,
    )  # fmt: skip
    embedder = Embedder(model, spec, prepared.resolved.source)
    zero_shot = None
    if main and evaluate_zero_shot:
        log(f"zero-shot evaluation of {spec.name} on {', '.join(s.name for s in prepared.eval_sets)}")
        zero_shot = evaluate_embedder(embedder, prepared.eval_sets, n_resamples=config.eval_resamples, seed=config.seed)

    dataset = _dataset(prepared.pairs, config)
    steps_per_epoch = max(1, len(dataset) // (config.batch_size * config.gradient_accumulation * _world_size()))
    total_steps = config.max_steps or int(steps_per_epoch * config.epochs)
    targets = resolve_targets(config.peft.target_modules, spec)
    try:
        model.add_adapter(peft_config(config.peft, targets, total_steps))
    except ValueError as exc:  # PEFT: a target module this model does not have, and the like
        raise CardioloraError(f"peft.target_modules {targets!r} do not fit {spec.name}: {exc}") from None
    trainable, total = count_parameters(model)
    log(f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%), "
        f"{config.peft.method} on {targets if isinstance(targets, str) else ', '.join(targets)}")  # fmt: skip

    precision = resolve_precision(config.precision)
    log(f"precision: {precision}" + (" (auto)" if config.precision == "auto" else ""))
    loss = build_loss(
        model, config.loss, distributed=_world_size() > 1, teacher_columns=int(TEACHER_COLUMN in dataset.column_names)
    )
    evaluator = SeparationEvaluator(
        prepared.eval_sets, n_resamples=config.eval_resamples, prompt=spec.prompt_for("similarity") or None
    )
    ranking = uses_in_batch_negatives(config.loss)
    evaluate_while_training = config.eval_steps is not None
    args = SentenceTransformerTrainingArguments(
        output_dir=str(run_dir / CHECKPOINTS),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type=config.scheduler,
        weight_decay=config.weight_decay,
        adam_beta1=0.9,
        adam_beta2=0.999,
        seed=config.seed,
        data_seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if evaluate_while_training else "no",
        eval_steps=config.eval_steps,
        load_best_model_at_end=evaluate_while_training,
        metric_for_best_model=f"eval_{evaluator.primary_metric}" if evaluate_while_training else None,
        greater_is_better=True,
        logging_steps=10,
        report_to=config.report_to or "none",
        batch_sampler=_batch_sampler(config, ranking),
        dataloader_drop_last=_world_size() > 1,
        ddp_find_unused_parameters=False if _world_size() > 1 else None,
        # On CPUs accelerate starts a gloo process group only when told the run is CPU-only.
        use_cpu=not torch.cuda.is_available(),
    )
    # transformers 5 reads the TensorBoard directory from the environment only.
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "logs")
    callbacks = []
    if config.early_stopping_patience and evaluate_while_training:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss,
        evaluator=evaluator if evaluate_while_training else None, callbacks=callbacks,
    )  # fmt: skip
    checkpoint = _last_checkpoint(run_dir) if resume else None
    if resume and checkpoint:
        log(f"resuming from {checkpoint}")
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    elapsed = time.perf_counter() - started

    adapter_dir = run_dir / "adapter"
    metrics: dict[str, Any] = {}
    log(f"processes: {trainer.accelerator.num_processes} ({trainer.args.parallel_mode})") if main else None
    if main:
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)
        model[0].auto_model.save_pretrained(str(adapter_dir))
        # The zoo name (or hub id), not PEFT's absolute path of the weights: the adapter moves between machines.
        record_base_model(adapter_dir, portable_model_name(config.model, prepared.resolved.path))
        log("final evaluation")
        final = evaluate_embedder(
            Embedder(model, spec, prepared.resolved.source, adapter_dir),
            prepared.eval_sets, n_resamples=config.eval_resamples, seed=config.seed,
        )  # fmt: skip
        metrics = {
            "schema": "cardiolora.run/v1",
            "model": spec.name,
            "zero_shot": _summary(zero_shot.to_dict()) if zero_shot else None,
            "final": _summary(final.to_dict()),
            "training": {
                "pairs": len(prepared.pairs),
                "rows": len(dataset),
                "global_step": int(output.global_step),
                "train_loss": float(output.training_loss),
                "seconds": round(elapsed, 1),
                "rows_per_second": round(
                    output.global_step * config.batch_size * config.gradient_accumulation * _world_size() / elapsed, 2
                ),
                "trainable_parameters": trainable,
                "total_parameters": total,
                "world_size": _world_size(),
                "precision": precision,
            },
            "history": evaluator.history,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        if zero_shot:
            rows = retention_table(metrics["zero_shot"], metrics["final"], target=config.eval_sets[0])
            metrics["retention"] = [row.to_dict() for row in rows]
            for warning in retention_warnings(rows):
                logger.warning(warning)
        write_json_atomic(run_dir / "metrics.json", metrics)
        write_text_atomic(run_dir / "README.md", model_card(config, metrics))
    return metrics


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("separation", "separation_ci", "auc", "negation_gap", "negation_accuracy", "tier", "categories")
    return {
        e["eval_set"]["name"]: {k: e[k] for k in keep} | {"sha256": e["eval_set"]["sha256"]}
        for e in report["evaluations"]
    }


def _retention_section(metrics: dict[str, Any]) -> str:
    rows = metrics.get("retention") or []
    if not rows:
        return ""

    def fmt(value):
        return "n/a" if value is None else f"{value:+.3f}"

    lines = [f"| {r['eval_set']} | {fmt(r['separation_change'])} | {fmt(r['auc_change'])} | "
             f"{'**harmed**' if r['harmed'] else 'kept'} |" for r in rows]  # fmt: skip
    return (
        "Retention on the other evaluation sets (adapted minus zero-shot; harmed: a fall of more than "
        f"{rows[0]['tolerance']}):\n\n| eval set | separation change | ROC-AUC change | |\n|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )


def model_card(config: TrainConfig, metrics: dict[str, Any]) -> str:
    rows = []
    for name, final in metrics["final"].items():
        before = (metrics.get("zero_shot") or {}).get(name, {})

        def fmt(value):
            return "n/a" if value is None else f"{value:.3f}"

        rows.append(
            f"| {name} | {fmt(before.get('separation'))} | {fmt(final['separation'])} | {fmt(before.get('auc'))} | "
            f"{fmt(final['auc'])} | {fmt(before.get('negation_accuracy'))} | {fmt(final['negation_accuracy'])} |"
        )
    training = metrics["training"]
    return f"""# {metrics["model"]} + cardiology adapter

A {config.peft.method.upper()} adapter (r={config.peft.r}, alpha={config.peft.alpha}) for `{metrics["model"]}`,
trained by cardiolora with the `{config.loss.name}` objective on `{config.data}`.

| eval set | separation before | after | ROC-AUC before | after | negation acc. before | after |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{_retention_section(metrics)}
Training: {training["pairs"]} pairs, {training["global_step"]} steps, {training["seconds"]} s,
{training["trainable_parameters"]:,} trainable of {training["total_parameters"]:,} parameters.

Produced by:

```
{metrics["command"]}
```

Use it:

```bash
cardiolora evaluate --model {config.model} --adapter {Path(config.out) / "adapter"}
cardiolora export {config.out} --out merged-model   # a standalone sentence-transformers model, adapter merged
```

Settings (`config.json` holds all of them):

```json
{json.dumps(config.resolved(), indent=2)}
```
"""
