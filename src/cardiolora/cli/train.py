"""``cardiolora train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args

import typer

from cardiolora.cli.common import (
    app,
    console,
    eval_sets_option,
    plain,
    quiet_libraries,
    user_errors,
)
from cardiolora.errors import CardioloraError
from cardiolora.training.config import LossName, LossSettings, PeftSettings, TrainConfig
from cardiolora.training.peft_methods import PEFT_METHODS

TrainEvalSetsOption = eval_sets_option(
    "Repeatable; the first is the target, the others retention checks. Default: every bundled set, cardiology first."
)


def _default(field: str, settings: type = TrainConfig, end: str = ".") -> str:
    """`` (default X).``: the configuration's own default, so that the help never drifts from it."""
    value = settings.model_fields[field].get_default(call_default_factory=True)
    if isinstance(value, bool):
        value = "on" if value else "off"
    elif isinstance(value, list):
        value = " ".join(str(item) for item in value) or "none"
    elif isinstance(value, dict):
        value = " ".join(f"{key}={item}" for key, item in value.items()) or "none"
    elif value is None:
        value = "none"
    return f" (default {value}){end}"


def log_literally(*parts: object) -> None:
    """The trainer's progress lines, printed as written: they quote model names, paths and
    evaluation-set names, which may hold ``[...]`` that rich would read as markup."""
    console.print(*(plain(part) for part in parts))


def _parse_relation_targets(items: list[str] | None) -> dict[str, float] | None:
    if not items:
        return None
    targets = {}
    for item in items:
        relation, sep, value = item.partition("=")
        try:
            targets[relation] = float(value)
        except ValueError:
            sep = ""
        if not sep or not relation:
            raise CardioloraError(f"--relation-target takes RELATION=COSINE, got {item!r}")
    return targets


@app.command()
@user_errors
def train(
    config_file: Annotated[
        Path | None, typer.Option("--config", "-c", metavar="FILE", help="A TOML file; flags override it.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help="Zoo name, model directory or cached hub id" + _default("model"),
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", metavar="FILE", help="Pairs JSONL/CSV (from `cardiolora data`); required."),
    ] = None,
    eval_sets: TrainEvalSetsOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="DIR", help="Run directory; required.")] = None,
    peft_method: Annotated[
        str | None,
        typer.Option(
            "--peft",
            metavar="METHOD",
            help=f"PEFT method: {', '.join(PEFT_METHODS)}" + _default("method", PeftSettings),
        ),
    ] = None,
    rank: Annotated[
        int | None, typer.Option("--rank", "-r", metavar="R", help="LoRA rank" + _default("r", PeftSettings))
    ] = None,
    alpha: Annotated[
        int | None,
        typer.Option(
            "--alpha",
            metavar="ALPHA",
            help="LoRA alpha (the update is scaled by alpha / rank)" + _default("alpha", PeftSettings),
        ),
    ] = None,
    dropout: Annotated[
        float | None, typer.Option("--dropout", metavar="P", help="LoRA dropout" + _default("dropout", PeftSettings))
    ] = None,
    target_modules: Annotated[
        list[str] | None,
        typer.Option(
            "--target-module",
            metavar="NAME",
            help="Module name, 'attention' (the study's query/value) or 'all-linear'; repeatable"
            + _default("target_modules", PeftSettings),
        ),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option("--loss", metavar="LOSS", help=", ".join(get_args(LossName)) + _default("name", LossSettings)),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", metavar="T", help="InfoNCE temperature" + _default("temperature", LossSettings)),
    ] = None,
    symmetric: Annotated[
        bool | None,
        typer.Option(
            "--symmetric/--no-symmetric", help="InfoNCE in both directions" + _default("symmetric", LossSettings)
        ),
    ] = None,
    cosine_weight: Annotated[
        float | None,
        typer.Option(
            "--cosine-weight",
            metavar="W",
            help="Weight of the absolute cosine-target term" + _default("cosine_weight", LossSettings),
        ),
    ] = None,
    cosine_term: Annotated[
        str | None,
        typer.Option(
            "--cosine-term",
            metavar="TERM",
            help="mse, cosent or angle: how the cosine-target term scores pairs"
            + _default("cosine_term", LossSettings),
        ),
    ] = None,
    mini_batch_size: Annotated[
        int | None,
        typer.Option(
            "--mini-batch-size", metavar="N", help="GradCache mini-batch" + _default("mini_batch_size", LossSettings)
        ),
    ] = None,
    relation_targets: Annotated[
        list[str] | None,
        typer.Option(
            "--relation-target",
            metavar="RELATION=COSINE",
            help="Graded positive target of the absolute term; repeatable" + _default("relation_targets", LossSettings),
        ),
    ] = None,
    mask_same_category: Annotated[
        bool | None,
        typer.Option(
            "--mask-same-category/--no-mask-same-category",
            help="Keep same-category rows out of InfoNCE's in-batch negatives"
            + _default("mask_same_category", LossSettings),
        ),
    ] = None,
    preserve_weight: Annotated[
        float | None,
        typer.Option(
            "--preserve-weight",
            metavar="W",
            help="Weight of 1 - cos(adapted, base) on the anchors: keep what the base model knew"
            + _default("preserve_weight", LossSettings),
        ),
    ] = None,
    teacher_weight: Annotated[
        float | None,
        typer.Option(
            "--teacher-weight",
            metavar="W",
            help="Weight of 1 - cos(adapted, base) on the replay rows' texts (pairs of another organ system than "
            "--target-branch): the base model as their teacher" + _default("teacher_weight", LossSettings),
        ),
    ] = None,
    teacher_texts: Annotated[
        str | None,
        typer.Option(
            "--teacher-texts",
            metavar="NAME|FILE",
            help="Texts with no pair the teacher keeps in place: general-english (bundled everyday English), a file "
            "with one text a line, or none" + _default("teacher_texts"),
        ),
    ] = None,
    target_branch: Annotated[
        str | None,
        typer.Option(
            "--target-branch",
            metavar="BRANCH",
            help="The organ system the adapter is for; pairs of other branches are replay" + _default("target_branch"),
        ),
    ] = None,
    epochs: Annotated[
        float | None, typer.Option("--epochs", metavar="N", help="Passes over the data" + _default("epochs"))
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", metavar="N", help="Stop after N optimizer steps (default: the epochs decide)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", metavar="N", help="Rows per device batch" + _default("batch_size"))
    ] = None,
    gradient_accumulation: Annotated[
        int | None,
        typer.Option(
            "--gradient-accumulation",
            metavar="N",
            help="Batches per optimizer step" + _default("gradient_accumulation"),
        ),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option("--lr", "--learning-rate", metavar="LR", help="Peak learning rate" + _default("learning_rate")),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", metavar="NAME", help="linear or cosine" + _default("scheduler"))
    ] = None,
    max_seq_length: Annotated[
        int | None,
        typer.Option("--max-seq-length", metavar="N", help="Tokens per text at most" + _default("max_seq_length")),
    ] = None,
    data_fraction: Annotated[
        float | None,
        typer.Option("--data-fraction", metavar="F", help="Share of the pairs used" + _default("data_fraction")),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            metavar="NAME",
            help="Of the training steps: auto (bf16 where native), fp32, bf16 or fp16; the run's evaluations are "
            "always fp32 on whole texts, as `cardiolora evaluate`" + _default("precision"),
        ),
    ] = None,
    load_in_8bit: Annotated[
        bool | None,
        typer.Option(
            "--load-in-8bit/--no-load-in-8bit",
            help="Load the base weights in 8 bits (bitsandbytes, CUDA)" + _default("load_in_8bit"),
        ),
    ] = None,
    eval_steps: Annotated[
        int | None,
        typer.Option(
            "--eval-steps",
            metavar="N",
            help="Evaluate every N steps and keep the best checkpoint (default: no evaluation while training).",
        ),
    ] = None,
    early_stopping: Annotated[
        int | None,
        typer.Option("--early-stopping", metavar="N", help="Patience in evaluations (default: none)."),
    ] = None,
    save_steps: Annotated[
        int | None,
        typer.Option(
            "--save-steps",
            metavar="N",
            help="Checkpoint every N steps" + _default("save_steps", end="; with --eval-steps, at every evaluation."),
        ),
    ] = None,
    report_to: Annotated[
        list[str] | None,
        typer.Option(
            "--report-to", metavar="NAME", help="tensorboard, mlflow, none...; repeatable" + _default("report_to")
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", metavar="N", help="Seed of data order, initialization and bootstrap" + _default("seed")),
    ] = None,
    trust_remote_code: Annotated[
        bool | None,
        typer.Option(
            "--trust-remote-code/--no-trust-remote-code",
            help="Allow Python code shipped with the model to run" + _default("trust_remote_code"),
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Any configuration key, nested keys dotted (loss.teacher_weight=2); the value is read as TOML "
            "(strings may go unquoted); repeatable, applied last.",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an unfinished run from its last checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace a run (only a cardiolora run directory; the old run stays until the new one is complete).",
        ),
    ] = False,
) -> None:
    """Adapt a model to cardiology with a PEFT adapter and a contrastive objective.

    Flags and the configuration keys they set (TOML, --set, config.json): --peft peft.method, --rank
    peft.r, --alpha peft.alpha, --dropout peft.dropout, --target-module peft.target_modules, --loss
    loss.name, --temperature and the other loss flags loss.NAME, --lr learning_rate, --early-stopping
    early_stopping_patience, --gradient-accumulation gradient_accumulation, --eval-set eval_sets; the
    others the key of their own name with dashes as underscores. Both spellings keep working."""
    from cardiolora.training import build_config
    from cardiolora.training import train as run_training
    from cardiolora.training.config import load_toml, merge_overrides, parse_settings

    base = load_toml(config_file) if config_file else {}
    if resume and out is not None and not config_file:
        # The run's own resolved configuration: --resume needs no --data or other flag it already holds.
        from cardiolora.io import read_json_object

        base = read_json_object(out / "config.json")
    flags = {
        "model": model,
        "data": str(data) if data else None,
        "out": str(out) if out else None,
        "eval_sets": eval_sets,
        "epochs": epochs,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "gradient_accumulation": gradient_accumulation,
        "learning_rate": learning_rate,
        "scheduler": scheduler,
        "max_seq_length": max_seq_length,
        "data_fraction": data_fraction,
        "precision": precision,
        "load_in_8bit": load_in_8bit,
        "eval_steps": eval_steps,
        "early_stopping_patience": early_stopping,
        "save_steps": save_steps,
        "seed": seed,
        "trust_remote_code": trust_remote_code,
        "target_branch": target_branch,
        "teacher_texts": teacher_texts,
        "report_to": [] if report_to == ["none"] else report_to,
        "peft": {
            "method": peft_method,
            "r": rank,
            "alpha": alpha,
            "dropout": dropout,
            "target_modules": target_modules,
        },
        "loss": {
            "name": loss,
            "temperature": temperature,
            "symmetric": symmetric,
            "cosine_weight": cosine_weight,
            "cosine_term": cosine_term,
            "mini_batch_size": mini_batch_size,
            "mask_same_category": mask_same_category,
            "relation_targets": _parse_relation_targets(relation_targets),
            "preserve_weight": preserve_weight,
            "teacher_weight": teacher_weight,
        },
    }
    values = merge_overrides(merge_overrides(base, flags), parse_settings(settings or []))
    # Said as the command line says it, not as pydantic's "out: Field required".
    for key, what in (("out", "the run directory to write"), ("data", "the pairs file to train on")):
        if values.get(key) is None:
            where = f" (or `{key} = ...` in {config_file})" if config_file else ""
            raise CardioloraError(f"--{key} is required: {what}{where}")
    config = build_config(values, source=str(config_file) if config_file else "command line")
    quiet_libraries()
    result = run_training(config, resume=resume, overwrite=overwrite, log=log_literally, console=console)
    if result.metrics:
        print_run_summary(result.metrics)
        if result.retention:
            from cardiolora.cli.main import print_retention

            print_retention(result.retention)
        map_file = result.run_dir / "embedding_map.json"
        if map_file.exists():
            import json

            from cardiolora.study.report_figures import plot_embedding_map, pyplot, save_figure

            figure = map_file.with_suffix(".png")
            data = json.loads(map_file.read_text())
            save_figure(plot_embedding_map(result.metrics["model"], data, pyplot()), figure)
            console.print(f"embedding map of {plain(data['eval_set'])}: {plain(figure)}")
        console.print(f"run written to {plain(result.run_dir)} (adapter: {plain(result.adapter_dir)})")


def print_run_summary(metrics: dict) -> None:
    """Zero-shot -> adapted per evaluation set (ROC-AUC, per form on the target, separation, negation
    accuracy where the set has negation tests) and per normalisation set (top-1 with its paired CI)."""

    def arrow(before, after, digits: int = 3) -> str:
        fmt = lambda v: "n/a" if v is None else f"{v:.{digits}f}"  # noqa: E731
        return f"{fmt(before)} -> {fmt(after)}" if metrics.get("zero_shot") else fmt(after)

    zero_shot = metrics.get("zero_shot") or {}
    for index, (name, final) in enumerate(metrics["final"].items()):
        before = zero_shot.get(name, {})
        parts = [f"ROC-AUC {arrow(before.get('auc'), final['auc'])}"]
        if index == 0:  # the target: per form too
            forms = final.get("forms") or {}
            parts += [f"{form} {arrow((before.get('forms') or {}).get(form, {}).get('auc'), v['auc'])}"
                      for form, v in forms.items()]  # fmt: skip
        parts.append(f"separation {arrow(before.get('separation'), final['separation'])}")
        if final.get("negation_accuracy") is not None:
            parts.append(f"negation accuracy {arrow(before.get('negation_accuracy'), final['negation_accuracy'])}")
        console.print(f"{plain(name)}: " + ", ".join(parts))
    for name, entry in (metrics.get("normalisation") or {}).items():
        change = entry.get("change")
        ci = ""
        if change:
            low, high = change["top1_change_ci_low"], change["top1_change_ci_high"]
            ci = f" ({change['top1_change']:+.3f} [{low:+.3f}, {high:+.3f}])"
        top1 = arrow((entry.get("zero_shot") or {}).get("top1"), entry["final"]["top1"])
        console.print(f"normalisation {plain(name)}: top-1 {top1}{ci}, MRR "
                      f"{arrow((entry.get('zero_shot') or {}).get('mrr'), entry['final']['mrr'])}")  # fmt: skip
