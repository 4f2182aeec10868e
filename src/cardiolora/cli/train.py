"""``cardiolora train`` and ``cardiolora export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cardiolora.cli.common import AdapterScaleOption, app, console, plain, quiet_libraries, user_errors
from cardiolora.errors import CardioloraError
from cardiolora.training.peft_methods import PEFT_METHODS


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
    config_file: Annotated[Path | None, typer.Option("--config", "-c", help="A TOML file; flags override it.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Zoo name, model directory or cached hub id.")] = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Pairs JSONL/CSV (from `cardiolora data`).")] = None,
    eval_sets: Annotated[list[str] | None, typer.Option("--eval-set", "-e", help="Repeatable; the first is the target, the others retention checks. Default: every bundled set, cardiology first.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory.")] = None,
    peft_method: Annotated[str | None, typer.Option("--peft", help=f"PEFT method: {', '.join(PEFT_METHODS)}.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", "-r")] = None,
    alpha: Annotated[int | None, typer.Option("--alpha")] = None,
    dropout: Annotated[float | None, typer.Option("--dropout")] = None,
    target_modules: Annotated[list[str] | None, typer.Option("--target-module", help="Module name, 'attention' (the study's query/value) or 'all-linear' (the default); repeatable.")] = None,
    loss: Annotated[
        str | None,
        typer.Option("--loss", help="infonce, infonce+cosine, cached-infonce, triplet, triplet+cosine, cosine, cosent or angle."),
    ] = None,
    temperature: Annotated[float | None, typer.Option("--temperature")] = None,
    symmetric: Annotated[bool | None, typer.Option("--symmetric/--no-symmetric")] = None,
    cosine_weight: Annotated[float | None, typer.Option("--cosine-weight")] = None,
    cosine_term: Annotated[
        str | None, typer.Option("--cosine-term", help="mse, cosent or angle: how the cosine-target term scores pairs."),
    ] = None,
    mini_batch_size: Annotated[int | None, typer.Option("--mini-batch-size", help="GradCache mini-batch.")] = None,
    relation_targets: Annotated[
        list[str] | None,
        typer.Option("--relation-target", help="RELATION=COSINE: graded positive target of the absolute term; repeatable."),
    ] = None,
    mask_same_category: Annotated[
        bool | None,
        typer.Option("--mask-same-category/--no-mask-same-category", help="Keep same-category rows out of InfoNCE's in-batch negatives."),
    ] = None,
    preserve_weight: Annotated[
        float | None,
        typer.Option("--preserve-weight", help="Weight of 1 - cos(adapted, base) on the anchors: keep what the base model knew."),
    ] = None,
    teacher_weight: Annotated[
        float | None,
        typer.Option("--teacher-weight", help="Weight of 1 - cos(adapted, base) on the replay rows' texts (pairs of another organ system than --target-branch): the base model as their teacher."),
    ] = None,
    teacher_texts: Annotated[
        str | None, typer.Option("--teacher-texts", help="Texts with no pair the teacher keeps in place: general-english (bundled everyday English, the default), a file with one text a line, or none."),
    ] = None,
    target_branch: Annotated[
        str | None, typer.Option("--target-branch", help="The organ system the adapter is for; pairs of other branches are replay. Default: cardiovascular."),
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
    gradient_accumulation: Annotated[int | None, typer.Option("--gradient-accumulation")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", "--learning-rate")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="linear or cosine.")] = None,
    max_seq_length: Annotated[int | None, typer.Option("--max-seq-length")] = None,
    data_fraction: Annotated[float | None, typer.Option("--data-fraction")] = None,
    precision: Annotated[str | None, typer.Option("--precision", help="auto (bf16 where native, the default), fp32, bf16 or fp16.")] = None,
    load_in_8bit: Annotated[bool | None, typer.Option("--load-in-8bit/--no-load-in-8bit")] = None,
    eval_steps: Annotated[int | None, typer.Option("--eval-steps")] = None,
    early_stopping: Annotated[int | None, typer.Option("--early-stopping", help="Patience in evaluations.")] = None,
    save_steps: Annotated[int | None, typer.Option("--save-steps")] = None,
    report_to: Annotated[list[str] | None, typer.Option("--report-to", help="tensorboard, mlflow, none...")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    trust_remote_code: Annotated[bool | None, typer.Option("--trust-remote-code/--no-trust-remote-code")] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE for any configuration key, nested keys dotted (loss.teacher_weight=2); the value is read as TOML (strings may go unquoted); repeatable, applied last."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run from its last checkpoint.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a run (only a cardiolora run directory; the old run stays until the new one is complete).")
    ] = False,
) -> None:
    """Adapt a model to cardiology with a PEFT adapter and a contrastive objective."""
    from cardiolora.training import build_config
    from cardiolora.training import train as run_training
    from cardiolora.training.config import load_toml, merge_overrides, parse_settings

    base = load_toml(config_file) if config_file else {}
    flags = {
        "model": model, "data": str(data) if data else None, "out": str(out) if out else None,
        "eval_sets": eval_sets, "epochs": epochs, "max_steps": max_steps, "batch_size": batch_size,
        "gradient_accumulation": gradient_accumulation, "learning_rate": learning_rate, "scheduler": scheduler,
        "max_seq_length": max_seq_length, "data_fraction": data_fraction, "precision": precision,
        "load_in_8bit": load_in_8bit, "eval_steps": eval_steps, "early_stopping_patience": early_stopping,
        "save_steps": save_steps, "seed": seed, "trust_remote_code": trust_remote_code, "target_branch": target_branch,
        "teacher_texts": teacher_texts,
        "report_to": [] if report_to == ["none"] else report_to,
        "peft": {"method": peft_method, "r": rank, "alpha": alpha, "dropout": dropout, "target_modules": target_modules},
        "loss": {"name": loss, "temperature": temperature, "symmetric": symmetric, "cosine_weight": cosine_weight,
                 "cosine_term": cosine_term, "mini_batch_size": mini_batch_size, "mask_same_category": mask_same_category,
                 "relation_targets": _parse_relation_targets(relation_targets), "preserve_weight": preserve_weight,
                 "teacher_weight": teacher_weight},
    }  # fmt: skip
    values = merge_overrides(merge_overrides(base, flags), parse_settings(settings or []))
    config = build_config(values, source=str(config_file) if config_file else "command line")
    quiet_libraries()
    result = run_training(config, resume=resume, overwrite=overwrite, log=log_literally)
    if result.metrics:
        for name, final in result.metrics["final"].items():
            before = (result.metrics.get("zero_shot") or {}).get(name, {}).get("separation")
            console.print(
                f"{plain(name)}: separation {before:.3f} -> {final['separation']:.3f}, ROC-AUC {final['auc']:.3f}, "
                f"negation accuracy {final['negation_accuracy'] if final['negation_accuracy'] is None else round(final['negation_accuracy'], 3)}"
            )
        if result.metrics.get("retention"):
            from cardiolora.cli.main import print_retention
            from cardiolora.evaluation import RetentionRow

            fields = RetentionRow.__dataclass_fields__
            print_retention([RetentionRow(**{k: v for k, v in row.items() if k in fields}) for row in result.metrics["retention"]])
        console.print(f"run written to {plain(result.run_dir)} (adapter: {plain(result.adapter_dir)})")


@app.command()
@user_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `cardiolora train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the merged model.")],
    merge: Annotated[bool, typer.Option("--merge", help="Merge the adapter into the weights (required).")] = False,
    adapter_scale: AdapterScaleOption = 1.0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export (only a cardiolora export; the old one stays until the new one is complete).")
    ] = False,
) -> None:
    """Write a standalone sentence-transformers model: the base with the adapter merged in."""
    from cardiolora.errors import CardioloraError
    from cardiolora.training.export import export_merged

    if not merge:
        raise CardioloraError("only merged export exists so far: pass --merge (the adapter alone is in RUN/adapter)")
    quiet_libraries()
    export_merged(run_dir, out, adapter_scale=adapter_scale, overwrite=overwrite)
    console.print(f"merged model written to {plain(out)}; load it with sentence_transformers.SentenceTransformer({plain(repr(str(out)))})")
