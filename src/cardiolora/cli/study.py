"""``cardiolora study run`` and ``cardiolora report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cardiolora.cli.common import app, console, plain, quiet_libraries, user_errors
from cardiolora.errors import CardioloraError

study_app = typer.Typer(help="Multi-model studies from one config file.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(study_app, name="study")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


@study_app.command("run")
@user_errors
def study_run(
    config_file: Annotated[
        Path | None, typer.Argument(metavar="CONFIG", help="Study TOML (schema: docs/study.md).")
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="quick, cpu-full or paper.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Study directory (default: studies/NAME).")] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="MODEL", help="Run only this model (or 'ablation'); repeatable."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan and a time estimate from speeds measured before (`cardiolora study measure`) or "
            "--seconds-per-step; run, train and measure nothing.",
        ),
    ] = False,
    seconds_per_step: Annotated[
        float | None,
        typer.Option(
            "--seconds-per-step",
            min=0.0,
            metavar="S",
            help="Dry run: a training speed to assume where none was measured.",
        ),
    ] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the report at the end.")] = True,
) -> None:
    """Run (or resume) a study: per model zero-shot evaluation, LoRA training, adapted and transfer
    evaluation, benchmark; then the ablation grid and the report. Finished steps are skipped."""
    config, study_dir, plan = _plan(config_file, preset, out, only)
    if dry_run:
        _print_estimate(config, study_dir, plan, measure=False, seconds_per_step=seconds_per_step)
        return
    _run(config, study_dir, plan, only, report)


@study_app.command("measure")
@user_errors
def study_measure(
    config_file: Annotated[
        Path | None, typer.Argument(metavar="CONFIG", help="Study TOML (schema: docs/study.md).")
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="quick, cpu-full or paper.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Study directory (default: studies/NAME).")] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="MODEL", help="Measure only this model (or 'ablation'); repeatable."),
    ] = None,
) -> None:
    """Measure this machine's speed on the study's recipes (builds the data once into the cache and trains
    each distinct recipe a few steps: minutes), cache it for `study run --dry-run`, and print the estimate.
    A speed taken while the machine is busy is shown but not cached."""
    config, study_dir, plan = _plan(config_file, preset, out, only)
    _print_estimate(config, study_dir, plan, measure=True, seconds_per_step=None)


def _plan(config_file, preset, out, only):
    from cardiolora.study import load_preset, load_study, plan_study

    if (config_file is None) == (preset is None):
        raise CardioloraError("give either a study config file or --preset NAME (quick, cpu-full, paper)")
    config = load_study(config_file) if config_file else load_preset(preset)
    study_dir = out or Path("studies") / config.name
    quiet_libraries()
    return config, study_dir, plan_study(config, study_dir, only)


def _print_estimate(config, study_dir, plan, *, measure: bool, seconds_per_step: float | None) -> None:
    from cardiolora.study.estimate import estimate

    if measure:
        console.print("measuring this machine's speed on the study's recipes (a few training steps each)")
        with console.status("measuring") as status:
            estimated = estimate(plan, measure=True, progress=status.update)
    else:
        estimated = estimate(plan, measure=False, seconds_per_step=seconds_per_step)
    table = Table(title=plain(f"study {config.name!r} -> {study_dir}"))
    for column in ("model", "available", "source or reason"):
        table.add_column(column)
    for name, (source, why) in plan.availability.items():
        # The first sentence says what is missing; `cardiolora models list` has the rest.
        table.add_row(plain(name), "no" if why else "yes", plain(why.split(". ")[0] if why else source))
    console.print(table)
    steps = Table(title="plan")
    steps.add_column("step")
    steps.add_column("status")
    steps.add_column("estimate", justify="right")
    pending = dict(estimated["steps"])
    for step in plan.steps:
        estimate = "" if step.finished else _duration(pending.get(step.label))
        steps.add_row(plain(step.label), "finished" if step.finished else "pending", estimate)
    console.print(steps)
    if estimated["pairs"] is None:
        pairs = "pairs not counted yet (the data is not built; `cardiolora study measure` builds it once)"
    else:
        pairs = f"{estimated['pairs']:,} pairs" + ("" if estimated["pairs_measured"] else " (built once to count)")
    unknown = estimated["unknown_steps"] and f", {estimated['unknown_steps']} step(s) not measured"
    total = _duration(estimated["total_seconds"])
    console.print(
        f"{len(plan.pending)} of {len(plan.steps)} steps to run on {pairs}; estimated {total}{unknown or ''}."
    )
    if plan.unavailable:
        console.print(plain(f"skipped (weights not on this machine): {', '.join(plan.unavailable)}"))
        if config.ablation and config.ablation.model in plan.unavailable:
            console.print(plain(f"the ablation grid on {config.ablation.model} is skipped with it"))
    for label, note in estimated["notes"].items():
        console.print(plain(f"{label}: {note}"))
    if estimated["unknown_steps"] and not measure:
        console.print(
            "steps marked unknown have no measured speed on this machine: `cardiolora study measure` measures "
            "them (minutes), or --seconds-per-step states one"
        )


def _run(config, study_dir, plan, only, report) -> None:
    from cardiolora.directories import lock_directory
    from cardiolora.study import run_study

    # Step labels hold model names and paths, the log lines the trainer's: printed literally.
    def on_step(step, phase: str, seconds: float) -> None:
        if phase == "skipped":
            console.print(f"[dim]= {plain(step.label)}: finished earlier, skipped[/dim]")
        elif phase == "started":
            console.rule(plain(step.label))
        else:
            console.print(f"[green]✓ {plain(step.label)}[/green] ({_duration(seconds)})")

    def log(*parts: object) -> None:
        console.print(*(plain(part) for part in parts))

    # Locked before anything is printed or run: a second `study run` on the directory is refused.
    with lock_directory(study_dir, what="study directory"):
        if plan.unavailable:
            skipped = ", ".join(plan.unavailable)
            console.print(f"[yellow]skipped (weights not on this machine): {plain(skipped)}[/yellow]")
        console.print(
            plain(f"study {config.name!r}: {len(plan.pending)} of {len(plan.steps)} steps to run into {study_dir}")
        )
        run_study(config, study_dir, only=only, report=report, on_step=on_step, log=log)
    if report:
        console.print(plain(f"report: {study_dir / 'report.md'} and {study_dir / 'report.html'}"))


@app.command("report")
@user_errors
def report_command(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="STUDY_DIR | RUN_DIR...", help="A study directory, or training run directories."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Where a comparison of runs goes (required for runs); for a study, a new directory for its report "
            "(default: inside the study).",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an earlier comparison or report at --out (only one cardiolora wrote)."
        ),
    ] = False,
) -> None:
    """Write report.md, report.html, results.csv and figures/ for a (possibly unfinished) study, or
    compare training runs side by side (``cardiolora report runs/a runs/b --out cmp/``)."""
    from cardiolora.training.run_directory import is_run_directory

    if len(paths) == 1 and not is_run_directory(paths[0]):
        if overwrite and out is None:
            raise CardioloraError("--overwrite goes with --out: a study's own report is always rewritten in place")
        from cardiolora.study.report import write_report

        for path in write_report(paths[0], out, overwrite=overwrite).values():
            console.print(f"wrote {plain(path)}")
        return
    if out is None:
        raise CardioloraError("comparing training runs needs --out DIR (the runs themselves are not written to)")
    from cardiolora.study.compare import compare_runs, over_runs, read_run

    for path in compare_runs(paths, out, overwrite=overwrite).values():
        console.print(f"wrote {plain(path)}")
    rows = over_runs([read_run(Path(p)) for p in paths])
    if rows:
        table = Table(title=f"over the {len(paths)} runs: change over the base model, averaged, paired 95% CI")
        for column in ("eval set", "separation change [95% CI]", "ROC-AUC change [95% CI]", "harmed"):
            table.add_column(column, justify="left" if column == "eval set" else "right")
        for r in rows:
            table.add_row(
                plain(r.eval_set),
                f"{r.separation_change:+.3f} [{r.separation_change_ci[0]:+.3f}, {r.separation_change_ci[1]:+.3f}]",
                f"{r.auc_change:+.3f} [{r.auc_change_ci[0]:+.3f}, {r.auc_change_ci[1]:+.3f}]",
                "[bold red]harmed[/]" if r.harmed else "no",
            )
        console.print(table)
