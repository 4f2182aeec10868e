"""A training run, in named phases: check every input (:func:`prepare`), own the run directory
(:func:`train`: lock, staging, swap), then, in :func:`_run`, :func:`_setup_run_directory`,
:func:`_setup_model`, :func:`_evaluate_zero_shot`, :func:`_setup_adapter`, :func:`_setup_trainer`,
:func:`_fit` and :func:`_finish` (adapter, final evaluation, metrics, model card).

Training is sentence-transformers' trainer with a PEFT adapter; what the run directory holds and what
may be done to it is in :mod:`cardiolora.training.run_directory`, the dataset's columns and label
contract in :mod:`cardiolora.training.dataset`, the model card in :mod:`cardiolora.training.model_card`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from cardiolora.data.records import PairRecord
from cardiolora.directories import lock_directory, replace_directory
from cardiolora.errors import CardioloraError
from cardiolora.evaluation import EvaluationReport, retention_table, retention_warnings
from cardiolora.io import write_json_atomic, write_text_atomic
from cardiolora.models import resolve_model
from cardiolora.models.adapters import portable_model_name, record_base_model
from cardiolora.training.arguments import training_arguments
from cardiolora.training.config import TrainConfig
from cardiolora.training.dataset import TEACHER_COLUMN, build_dataset
from cardiolora.training.evaluator import at_serving_length
from cardiolora.training.losses import build_loss
from cardiolora.training.model_card import model_card
from cardiolora.training.peft_methods import LAYER_NAME, peft_config
from cardiolora.training.prepare import (
    Prepared,
    is_main_process,
    prepare,
    resolve_attention,
    resolve_precision,
    world_size,
)
from cardiolora.training.results import TrainingStats, TrainResult
from cardiolora.training.run_directory import (
    RUN_MARKER,
    RUN_SCHEMA,
    check_run_dir,
    clear_failed_run,
    last_checkpoint,
    staging_dir,
)
from cardiolora.versions import package_versions

logger = logging.getLogger(__name__)


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


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    evaluate_zero_shot: bool = True,
    zero_shot: EvaluationReport | None = None,
    log=print,
    console=None,
) -> TrainResult:
    """Train an adapter as ``config`` says; see :mod:`cardiolora.training.run_directory` for what the
    run directory holds.

    The run directory is locked while the run trains. ``overwrite`` trains in a staging directory
    and swaps it in at the end (the old run stays as it was until then, and whatever stops the new
    one removes only the staging directory); ``resume`` continues in the run directory. A new run
    that fails on bad input leaves no run directory; one that is killed or crashes is continued with
    ``resume``. ``evaluate_zero_shot=False`` skips the evaluation of the base model before training
    (a study evaluates it once per model, not once per run); ``zero_shot`` is that evaluation, if one was
    made already with the same model (its sets are used where they are the run's; others are evaluated
    again). Progress goes to ``log`` as a line at
    every 5% of the steps, or as a live bar on ``console`` (a rich console) when it is a terminal."""
    prepared = prepare(config, resume=resume, overwrite=overwrite)
    run_dir = Path(config.out)
    work_dir = staging_dir(run_dir) if overwrite else run_dir

    def run() -> TrainResult:
        result = _run(
            config,
            prepared,
            work_dir,
            resume=resume,
            evaluate_zero_shot=evaluate_zero_shot,
            given_zero_shot=zero_shot,
            log=log,
            console=console,
        )
        return replace(result, run_dir=run_dir, adapter_dir=run_dir / "adapter")

    if not is_main_process():
        # Rank 0 owns (locks, creates, swaps) the directory; every rank trains in the same work_dir.
        return run()
    with lock_directory(run_dir, what="run directory"):
        check_run_dir(run_dir, resume=resume, overwrite=overwrite)  # again: it may have changed before the lock
        existed = run_dir.exists()
        fresh = not existed or not any(run_dir.iterdir())
        if overwrite and work_dir.exists():
            shutil.rmtree(work_dir)  # left by a killed --overwrite; the lock says no one else builds it
        try:
            result = run()
        except BaseException as exc:
            if overwrite:
                shutil.rmtree(work_dir, ignore_errors=True)  # the old run stays as it was
            elif fresh and isinstance(exc, CardioloraError):
                clear_failed_run(run_dir, existed)  # bad input leaves nothing behind
            raise
        if overwrite:
            replace_directory(work_dir, run_dir)
    return result


def _run(
    config: TrainConfig,
    prepared: Prepared,
    work_dir: Path,
    *,
    resume: bool,
    evaluate_zero_shot: bool,
    given_zero_shot: EvaluationReport | None,
    log,
    console,
) -> TrainResult:
    """The run itself, phase by phase, written into ``work_dir`` (the run directory, or the staging
    directory of ``--overwrite``; the swap into ``--out`` is the caller's). Ranks other than 0 train
    and return an empty result."""
    main = is_main_process()
    if main:
        _setup_run_directory(work_dir, config)
    model = _setup_model(config, prepared)
    zero_shot = (
        _zero_shot_once(model, config, prepared, work_dir, resume, log, given_zero_shot)
        if main and evaluate_zero_shot
        else None
    )
    base_encode = _base_encoder(model, config, prepared, log)
    if base_encode is not None:
        log("teacher targets: the base model's embeddings of the teacher and replay texts, computed once")
    dataset = build_dataset(prepared.pairs, config, base_encode=base_encode)
    trainable, total = _setup_adapter(model, config, prepared, len(dataset), log)
    trainer, evaluator, precision = _setup_trainer(model, config, prepared, dataset, work_dir, log, console)
    output, seconds = _fit(trainer, work_dir, resume, log)
    if not main:
        return TrainResult(work_dir, work_dir / "adapter", {})
    stats = TrainingStats(
        pairs=len(prepared.pairs),
        rows=len(dataset),
        global_step=int(output.global_step),
        train_loss=float(output.training_loss),
        seconds=round(seconds, 1),
        rows_per_second=round(
            output.global_step * config.batch_size * config.gradient_accumulation * world_size() / seconds, 2
        ),
        trainable_parameters=trainable,
        total_parameters=total,
        world_size=world_size(),
        precision=precision,
        attention=model[0].auto_model.config._attn_implementation,
    )
    return _finish(model, config, prepared, work_dir, zero_shot, stats, evaluator.history, log)


def _setup_run_directory(work_dir: Path, config: TrainConfig) -> None:
    """The marker first (a crash from here on leaves a run that ``--resume``/``--overwrite`` know),
    then the resolved configuration and the package versions."""
    work_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(work_dir / RUN_MARKER, {"schema": RUN_SCHEMA})
    write_json_atomic(work_dir / "config.json", config.resolved())
    write_json_atomic(work_dir / "versions.json", package_versions(("datasets", "accelerate")))


def _setup_model(config: TrainConfig, prepared: Prepared):
    """The base model as a sentence-transformers model (the zoo's pooling), seeded first: the
    adapter's initial weights are drawn when it is added, before the trainer seeds anything, and
    without this two runs of one seed start from different adapters (and end 0.01 ROC-AUC apart)."""
    from transformers import set_seed

    from cardiolora.models import load_sentence_transformer

    set_seed(config.seed)
    model_kwargs: dict[str, Any] = {}
    if config.load_in_8bit:
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    model = load_sentence_transformer(
        prepared.resolved, trust_remote_code=config.trust_remote_code, model_kwargs=model_kwargs
    )
    # Loaded with the attention `evaluate` and `serve` get; training switches kernels, and every
    # evaluation of the run switches back (at_serving_length), so its numbers stay evaluate's.
    transformer = model[0].auto_model
    model.cardiolora_serving_attention = transformer.config._attn_implementation
    attention = resolve_attention(config.attention, requires_remote_code=prepared.resolved.spec.requires_remote_code)
    if attention is not None and attention != model.cardiolora_serving_attention:
        try:
            transformer.set_attn_implementation(attention)
        except ValueError:
            pass  # judged below, like a model that keeps its kernel with only a warning
        switched = transformer.config._attn_implementation == attention
        if not switched and config.attention != "auto":
            raise CardioloraError(
                f"model {prepared.resolved.spec.name!r} cannot train with attention {attention!r} "
                f"(it runs {model.cardiolora_serving_attention!r} only); use --set attention=auto"
            )
    if config.base_dropout is not None:
        set_dropout(model, config.base_dropout)
    # Loaded at the length `embed`, `evaluate` and `serve` use; every evaluation of the run is made
    # there (see at_serving_length), so its numbers are `cardiolora evaluate`'s; training is capped.
    model.cardiolora_serving_length = model.max_seq_length
    model.max_seq_length = config.max_seq_length
    return model


def set_dropout(model, probability: float) -> int:
    """Every dropout layer of ``model`` set to ``probability``; returns how many. Called before the
    adapter is added, so the adapter's own dropout (``peft.dropout``) is not among them. BERT-family
    attention reads its dropout rate from such a module's ``p``, so it is covered too."""
    import torch

    layers = [module for module in model.modules() if isinstance(module, torch.nn.Dropout)]
    for layer in layers:
        layer.p = probability
    return len(layers)


def _embedder(model, prepared: Prepared, adapter_dir: Path | None = None):
    from cardiolora.embedding import Embedder

    return Embedder(model, prepared.resolved.spec, prepared.resolved.source, adapter_dir)


def _final_embedder(model, config: TrainConfig, prepared: Prepared, adapter_dir: Path):
    """The saved adapter loaded as `cardiolora evaluate --adapter` loads it, so that the run's final
    numbers are the ones `evaluate` prints: the trained model in memory, though its weights equal
    the saved ones, embeds up to 4e-5 apart (kernel choice after training), enough to reorder a
    pair and move ROC-AUC in the fourth decimal. An 8-bit model is evaluated in memory."""
    from cardiolora.embedding import Embedder

    if config.load_in_8bit:
        return _embedder(model, prepared, adapter_dir)
    device = model.device
    if device.type != "cpu":
        model.to("cpu")  # one copy on the accelerator at a time
    return Embedder.load(
        config.model, adapter=adapter_dir, device=str(device), trust_remote_code=config.trust_remote_code
    )


def _evaluate_zero_shot(model, config: TrainConfig, prepared: Prepared, log) -> EvaluationReport:
    """The base model on every evaluation set, before the adapter is added."""
    from cardiolora.evaluation import evaluate_embedder

    names = ", ".join(s.name for s in prepared.eval_sets)
    log(f"zero-shot evaluation of {prepared.resolved.spec.name} on {names}")
    with at_serving_length(model):
        return evaluate_embedder(
            _embedder(model, prepared),
            prepared.eval_sets,
            n_resamples=config.eval_resamples,
            seed=config.seed,
            normalisation_sets=prepared.normalisation_sets,
        )


def _zero_shot_once(
    model, config: TrainConfig, prepared: Prepared, work_dir: Path, resume: bool, log, given: EvaluationReport | None
):
    """The zero-shot evaluation, kept in ``zero_shot.json``: a resumed run reads it back instead of
    evaluating the base model again, and a ``given`` one (a study's zero-shot step) is used when it
    covers the run's sets and normalisation sets."""
    saved = work_dir / "zero_shot.json"
    if resume and saved.exists():
        log("zero-shot evaluation: kept from before the resume")
        return EvaluationReport.from_dict(json.loads(saved.read_text()))
    report = _covering(given, prepared) if given is not None else None
    if report is None:
        report = _evaluate_zero_shot(model, config, prepared, log)
    else:
        log("zero-shot evaluation: the one given (made before, with the same model)")
    report.save(saved)
    return report


def _covering(report: EvaluationReport, prepared: Prepared) -> EvaluationReport | None:
    """``report`` cut down to the run's evaluation and normalisation sets, in the run's order, or
    None when it lacks one of them (or holds another version of it: the sha256 must match)."""
    by_name = {e["eval_set"]["name"]: e for e in report.evaluations}
    norms = {r["normalisation_set"]["name"]: r for r in report.normalisation}
    evaluations = [by_name.get(s.name) for s in prepared.eval_sets]
    normalisation = [norms.get(s.name) for s in prepared.normalisation_sets]
    same_sets = all(
        e is not None and e["eval_set"]["sha256"] == s.sha256
        for e, s in zip(evaluations, prepared.eval_sets, strict=True)
    )
    same_norms = all(
        r is not None and r["normalisation_set"]["sha256"] == s.sha256
        for r, s in zip(normalisation, prepared.normalisation_sets, strict=True)
    )
    if not (same_sets and same_norms):
        return None
    return replace(report, evaluations=evaluations, normalisation=normalisation, zero_shot=None, target=None)


def _base_encoder(model, config: TrainConfig, prepared: Prepared, log):
    """texts -> the base model's embeddings as a training step computes them (same tokenizer, length
    cap, prompt and precision), for the teacher's cached targets; None when nothing is cached (no
    teacher, or ``cache_teacher`` off)."""
    if not (config.loss.applied_teacher_weight and config.cache_teacher):
        return None
    import torch

    precision = resolve_precision(config.precision)
    prompt = prepared.resolved.spec.prompt_for("similarity") or None

    def encode(texts: list[str]):
        with torch.autocast(device_type=model.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            vectors = model.encode(texts, prompt=prompt, batch_size=64, convert_to_tensor=True, show_progress_bar=False)
        return vectors.float().cpu().numpy()

    return encode


def _setup_adapter(model, config: TrainConfig, prepared: Prepared, rows: int, log) -> tuple[int, int]:
    """The PEFT adapter on the configured targets (AdaLoRA's schedule needs the step count); returns
    the trainable and total parameter counts."""
    steps_per_epoch = max(1, rows // (config.batch_size * config.gradient_accumulation * world_size()))
    total_steps = config.max_steps or int(steps_per_epoch * config.epochs)
    spec = prepared.resolved.spec
    targets = resolve_targets(config.peft.target_modules, spec)
    num_layers = getattr(model[0].auto_model.config, "num_hidden_layers", None)
    try:
        model.add_adapter(peft_config(config.peft, targets, total_steps, num_layers))
    except ValueError as exc:  # PEFT: a target module this model does not have, and the like
        raise CardioloraError(f"peft.target_modules {targets!r} do not fit {spec.name}: {exc}") from None
    if config.peft.upper_layers < 1.0 and not any(
        LAYER_NAME.search(name) for name, _ in model.named_parameters() if "lora_" in name or "ia3_" in name
    ):
        raise CardioloraError(
            f"peft.upper_layers: the layers of {spec.name} are not named as lists cardiolora knows "
            "(layer.N, layers.N, h.N, block.N, blocks.N); adapt every layer (peft.upper_layers = 1)"
        )
    trainable, total = count_parameters(model)
    where = targets if isinstance(targets, str) else ", ".join(targets)
    if config.peft.upper_layers < 1.0 and num_layers:
        where += f" of the upper {max(1, round(num_layers * config.peft.upper_layers))} of {num_layers} layers"
    log(
        f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%), "
        f"{config.peft.method} on {where}"
    )
    return trainable, total


def _setup_trainer(model, config: TrainConfig, prepared: Prepared, dataset, work_dir: Path, log, console=None):
    """The loss, the in-training evaluator and sentence-transformers' trainer with its arguments and
    cardiolora's progress; returns the trainer, the evaluator (its history goes into the metrics) and
    the precision."""
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import EarlyStoppingCallback, TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from cardiolora.training.progress import TrainingProgress

    class NoModelCard(TrainerCallback):
        """The run writes its own model card (:mod:`cardiolora.training.model_card`) and saves the
        adapter, not a sentence-transformers model: the trainer's card callback would only sample
        widget examples from the data, behind a progress bar of its own."""

        def __init__(self, default_args_dict: dict[str, Any]) -> None:
            super().__init__()

    class Trainer(SentenceTransformerTrainer):
        model_card_callback_class = NoModelCard

    from cardiolora.training.evaluator import SeparationEvaluator

    precision = resolve_precision(config.precision)
    log(f"precision: {precision}" + (" (auto)" if config.precision == "auto" else ""))
    loss = build_loss(
        model, config.loss, distributed=world_size() > 1, teacher_columns=int(TEACHER_COLUMN in dataset.column_names)
    )
    evaluator = SeparationEvaluator(
        prepared.eval_sets,
        n_resamples=config.eval_resamples,
        prompt=prepared.resolved.spec.prompt_for("similarity") or None,
        history_path=work_dir / "history.json",
    )
    evaluate_while_training = config.eval_steps is not None
    prompt = prepared.resolved.spec.prompt_for("similarity") or None
    args = training_arguments(config, work_dir, precision, evaluator.primary_metric, prompt)
    # transformers 5 reads the TensorBoard directory from the environment only.
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(work_dir / "logs")
    callbacks = []
    if config.early_stopping_patience and evaluate_while_training:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        evaluator=evaluator if evaluate_while_training else None,
        callbacks=callbacks,
    )
    trainer.remove_callback(ProgressCallback)  # raw dicts once library bars are off: ours says more
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(TrainingProgress(log, console))
    return trainer, evaluator, precision


def _fit(trainer, work_dir: Path, resume: bool, log):
    """Train (from the newest complete checkpoint with ``resume``); returns the trainer's output and
    the seconds it took."""
    checkpoint = last_checkpoint(work_dir) if resume else None
    if checkpoint:
        log(f"resuming from {checkpoint}")
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    if is_main_process():
        processes = trainer.accelerator.num_processes
        if processes > 1:
            mode = str(trainer.args.parallel_mode).rsplit(".", 1)[-1].lower().replace("_", " ")
            log(f"trained on {processes} processes ({mode} data parallel)")
    return output, seconds


def _finish(
    model,
    config: TrainConfig,
    prepared: Prepared,
    work_dir: Path,
    zero_shot: EvaluationReport | None,
    stats: TrainingStats,
    history: list[dict[str, Any]],
    log,
) -> TrainResult:
    """Save the adapter, evaluate it, write ``metrics.json`` and the model card (rank 0 only)."""
    from cardiolora.evaluation import evaluate_embedder
    from cardiolora.evaluation.embedding_map import embedding_map

    adapter_dir = work_dir / "adapter"
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    model[0].auto_model.save_pretrained(str(adapter_dir))
    # The zoo name (or hub id), not PEFT's absolute path of the weights: the adapter moves between machines.
    record_base_model(adapter_dir, portable_model_name(config.model, prepared.resolved.path))
    log("final evaluation")
    embedder = _final_embedder(model, config, prepared, adapter_dir)
    with at_serving_length(model):
        final = evaluate_embedder(
            embedder,
            prepared.eval_sets,
            n_resamples=config.eval_resamples,
            seed=config.seed,
            normalisation_sets=prepared.normalisation_sets,
        )
        # The target set's texts in 2-D, base and adapted (reports and `cardiolora report` plot it).
        write_json_atomic(work_dir / "embedding_map.json", embedding_map(embedder, prepared.eval_sets[0]))
    metrics: dict[str, Any] = {
        "schema": RUN_SCHEMA,
        "model": prepared.resolved.spec.name,
        "zero_shot": _summary(zero_shot.to_dict()) if zero_shot else None,
        "final": _summary(final.to_dict()),
        "training": stats.to_dict(),
        "history": history,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    if final.normalisation:
        metrics["normalisation"] = normalisation_summary(zero_shot, final)
    if zero_shot:
        # From the full evaluations: their per-pair cosines give each change its paired CI.
        rows = retention_table(zero_shot.evaluations, final.evaluations, target=config.eval_sets[0])
        metrics["retention"] = [row.to_dict() for row in rows]
        for warning in retention_warnings(rows):
            logger.warning(warning)
    # The full final evaluation (per-pair cosines, normalisation ranks), beside zero_shot.json: what
    # retention over several runs (seeds) needs, and what `cardiolora report RUN...` reads for it.
    final.zero_shot = zero_shot.evaluations if zero_shot else None
    final.target = config.eval_sets[0] if zero_shot else None
    final.save(work_dir / "final.json")
    write_json_atomic(work_dir / "metrics.json", metrics)
    write_text_atomic(work_dir / "README.md", model_card(config, metrics))
    return TrainResult(work_dir, adapter_dir, metrics, zero_shot=zero_shot, final=final, training=stats)


def normalisation_summary(zero_shot: EvaluationReport | None, final: EvaluationReport) -> dict[str, Any]:
    """Per normalisation set: top-1, top-5 and MRR zero-shot and adapted, and the paired change."""
    from cardiolora.evaluation.normalisation import paired_top1_change

    keep = ("top1", "top5", "mrr")
    before = {r["normalisation_set"]["name"]: r for r in (zero_shot.normalisation if zero_shot else [])}
    summary = {}
    for result in final.normalisation:
        name = result["normalisation_set"]["name"]
        entry: dict[str, Any] = {"final": {k: result[k] for k in keep}, "surface": result["surface"]}
        if name in before:
            entry["zero_shot"] = {k: before[name][k] for k in keep}
            entry["change"] = paired_top1_change(before[name]["ranks"], result["ranks"])
        summary[name] = entry
    return summary


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """Per set, the figures a run keeps (the pair cosines stay in ``cardiolora evaluate``'s results)."""
    keep = ("separation", "separation_ci", "auc", "negation_gap", "negation_accuracy", "tier", "categories", "forms",
            "surface")  # fmt: skip
    return {
        e["eval_set"]["name"]: {k: e[k] for k in keep} | {"sha256": e["eval_set"]["sha256"]}
        for e in report["evaluations"]
    }


def time_recipe(config: TrainConfig, pairs: list[PairRecord], *, steps: int = 4) -> dict[str, float]:
    """How fast ``config``'s recipe runs on this machine, through the run's own phases (model,
    adapter, dataset columns, loss with its teacher term, batch sampler, trainer) on ``pairs``, in a
    temporary directory that is removed afterwards. Returns the seconds to load the model, the
    seconds per training step (the median interval between step ends, so the first step's warm-up is
    left out) and the base model's embeddings/s at batch sizes 32 and 1 on the pairs' texts."""
    import statistics
    import tempfile

    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    from cardiolora.training.prepare import check_hardware

    check_hardware(config)  # a recipe this machine cannot run fails here, with the reason, not in a library
    rows = config.batch_size * config.gradient_accumulation * (steps + 1)
    sample = pairs[:rows]  # fewer: the trainer goes round them again
    with tempfile.TemporaryDirectory(prefix="cardiolora-timing-") as tmp:
        only_steps = {"max_steps": steps, "eval_steps": None, "eval_sets": [], "report_to": []}
        timed = config.model_copy(update={"out": tmp, **only_steps})
        started = time.perf_counter()
        prepared = Prepared(resolve_model(config.model), sample, [])
        model = _setup_model(timed, prepared)
        load_seconds = time.perf_counter() - started
        texts = [t for p in sample for t in (p.anchor, p.positive)][:256]
        rates = {}
        for batch_size, count in ((32, len(texts)), (1, min(len(texts), 32))):
            model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up
            started = time.perf_counter()
            model.encode(texts[:count], batch_size=batch_size)
            rates[batch_size] = count / (time.perf_counter() - started)
        dataset = build_dataset(sample, timed, base_encode=_base_encoder(model, timed, prepared, log=None))
        _setup_adapter(model, timed, prepared, len(dataset), log=lambda *_: None)
        trainer, _, _ = _setup_trainer(model, timed, prepared, dataset, Path(tmp), log=lambda *_: None)
        timer = StepTimer()
        trainer.add_callback(timer)
        trainer.train()
    intervals = [b - a for a, b in zip(timer.ends, timer.ends[1:], strict=False)]
    return {
        "load_seconds": load_seconds,
        "seconds_per_step": statistics.median(intervals) if intervals else float("nan"),
        "emb_per_s": rates[32],
        "emb_per_s_batch1": rates[1],
    }
