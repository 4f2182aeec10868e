"""The run directory: what ``--out`` may hold, and what may happen to it.

A run directory::

    .cardiolora-run    marker: this directory is a cardiolora run (``--overwrite`` replaces only runs)
    config.json        the resolved configuration
    versions.json      package versions
    adapter/           adapter_model.safetensors + adapter_config.json (PEFT)
    metrics.json       zero-shot and final evaluation, training statistics, evaluation history
    zero_shot.json     the base model's evaluation, kept for ``--resume`` (not run again)
    final.json         the adapted model's full evaluation (per-pair cosines; results.json's schema)
    history.json       the evaluations during training so far, kept for ``--resume``
    embedding_map.json the target set's texts in 2-D, base and adapted (written before metrics.json)
    README.md          model card (:mod:`cardiolora.training.model_card`)
    checkpoints/       trainer checkpoints (resume)
    logs/              TensorBoard logs

While a run trains, its directory is locked (``.NAME.lock`` beside it, holding the pid): a second
process that would train into it is refused. ``--overwrite`` builds the new run in a staging
directory beside the old one (``.NAME.cardiolora-staging``) and swaps it in at the end; until then
the old run is untouched, and a failed run removes only the staging directory. ``--resume`` trains
in the run directory itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cardiolora.directories import refuse_foreign_directory
from cardiolora.errors import CardioloraError
from cardiolora.io import read_json_object

CHECKPOINTS = "checkpoints"
RUN_MARKER = ".cardiolora-run"
RUN_SCHEMA = "cardiolora.run/v1"


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
        and isinstance(config["peft"], dict)
        and "method" in config["peft"]
        and isinstance(config["loss"], dict)
        and "name" in config["loss"]
    )


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
        if resume:
            raise CardioloraError(f"{run_dir} holds a finished run: nothing to resume (--overwrite trains it anew)")
        raise CardioloraError(f"{run_dir} holds a finished run; pass --overwrite to replace it")
    if not resume:
        raise CardioloraError(f"{run_dir} holds an unfinished run; pass --resume to continue it or --overwrite")


def staging_dir(run_dir: str | Path) -> Path:
    """Where ``--overwrite`` builds the new run: beside the old one (one file system, so the swap is
    a rename), hidden, and named from ``--out`` alone, so that every torchrun rank writes its share
    of a checkpoint into the same directory."""
    run_dir = Path(os.path.abspath(run_dir))
    return run_dir.parent / f".{run_dir.name}.cardiolora-staging"


def last_checkpoint(run_dir: Path) -> str | None:
    """The newest complete checkpoint. A process killed while saving leaves a checkpoint directory
    without its trainer state (written last); resuming from it would fail, so it is skipped."""
    checkpoints = sorted(
        (p for p in (run_dir / CHECKPOINTS).glob("checkpoint-*") if (p / "trainer_state.json").exists()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    return str(checkpoints[-1]) if checkpoints else None


def clear_failed_run(directory: Path, existed: bool) -> None:
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
