"""``cardiolora report RUN_DIR RUN_DIR ... --out DIR``: training runs side by side, without a study.

Each run directory's own files are read (``metrics.json``: the zero-shot and final evaluation of
every set, the retention rows, the training statistics; ``config.json``: the recipe). The comparison
directory gets ``report.md`` (one table of the runs, one of every set), ``results.csv`` (a row per
run) and ``figures/`` (separation per set and run; the ROC-AUC change per set and run; each run's
embedding map, ``embedding_map-<n>.png``, where its directory has ``embedding_map.json``), and a
marker (``cardiolora-comparison.json``) by which ``--overwrite`` knows it may replace it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.directories import lock_directory, refuse_foreign_directory
from cardiolora.errors import CardioloraError
from cardiolora.evaluation import RetentionRow
from cardiolora.io import atomic_directory, read_json_object, write_json_atomic
from cardiolora.study.report_figures import (
    ADAPTED_COLOR,
    ZERO_SHOT_COLOR,
    plot_embedding_map,
    pyplot,
    save_figure,
)
from cardiolora.study.report_tables import markdown_table, write_csv

COMPARISON_MARKER = "cardiolora-comparison.json"
COMPARISON_SCHEMA = "cardiolora.comparison/v1"
FIGURES = {
    "separation_by_set": "Adapted separation per evaluation set and run (grey: the first run's zero-shot)",
    "auc_change": "ROC-AUC change over zero-shot per evaluation set and run",
}


def is_comparison_directory(path: str | Path) -> bool:
    return read_json_object(Path(path) / COMPARISON_MARKER).get("schema") == COMPARISON_SCHEMA


def read_run(path: Path) -> dict[str, Any]:
    from cardiolora.training.run_directory import is_run_directory

    metrics_file = path / "metrics.json"
    if not is_run_directory(path):
        raise CardioloraError(f"{path} is not a training run directory (from `cardiolora train`) or a study")
    if not metrics_file.exists():
        raise CardioloraError(f"{path} holds an unfinished run (no metrics.json); finish it with --resume")
    try:
        metrics = json.loads(metrics_file.read_text())
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CardioloraError(f"{metrics_file}: cannot be read ({exc})") from None
    # Runs from before embedding maps (or full evaluations) were written have none: their section is left out.
    return {
        "path": path,
        "metrics": metrics,
        "config": config,
        "map": read_json_object(path / "embedding_map.json"),
        "zero_shot": read_json_object(path / "zero_shot.json").get("evaluations"),
        "final": read_json_object(path / "final.json").get("evaluations"),
    }


def over_runs(runs: list[dict[str, Any]]):
    """The change on every set averaged over the runs, with its paired CI and the harm verdict, when
    the runs are of one base model and target and all kept their full evaluations (seeds of one
    recipe, typically); else None."""
    from cardiolora.evaluation.retention import retention_over_runs

    if len(runs) < 2 or not all(run["zero_shot"] and run["final"] for run in runs):
        return None
    if len({(run["metrics"].get("model"), run["config"]["eval_sets"][0]) for run in runs}) != 1:
        return None
    target = runs[0]["config"]["eval_sets"][0]
    return retention_over_runs(runs[0]["zero_shot"], [run["final"] for run in runs], target=target, include_target=True)


def over_runs_table(rows) -> str:
    def ci(low: float, high: float) -> str:
        return f"[{low:+.3f}, {high:+.3f}]"

    return markdown_table(
        ["eval set", "runs", "separation change", "95% CI", "ROC-AUC change", "95% CI ", "harmed"],
        [
            [
                r.eval_set,
                r.runs,
                f"{r.separation_change:+.3f}",
                ci(*r.separation_change_ci),
                f"{r.auc_change:+.3f}",
                ci(*r.auc_change_ci),
                "**harmed**" if r.harmed else "no",
            ]
            for r in rows
        ],  # fmt: skip
    )


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """One run's line of the comparison (also its results.csv row)."""
    metrics, config = run["metrics"], run["config"]
    target = config["eval_sets"][0]
    final, zero_shot = metrics["final"].get(target, {}), (metrics.get("zero_shot") or {}).get(target, {})
    retention = [RetentionRow.from_dict(row) for row in metrics.get("retention") or []]
    changes = [c for r in retention for c in (r.separation_change, r.auc_change) if c is not None]
    training = metrics.get("training") or {}
    return {
        "run": run["path"].name,
        "model": metrics.get("model"),
        "target": target,
        "separation_zero_shot": zero_shot.get("separation"),
        "separation": final.get("separation"),
        "auc_zero_shot": zero_shot.get("auc"),
        "auc": final.get("auc"),
        "negation_accuracy": final.get("negation_accuracy"),
        "worst_other_change": min(changes) if changes else None,
        "harmed_sets": ";".join(r.eval_set for r in retention if r.harmed),
        "peft": f"{config['peft']['method']} r={config['peft']['r']}",
        "loss": config["loss"]["name"],
        "pairs": training.get("pairs"),
        "steps": training.get("global_step"),
        "train_seconds": training.get("seconds"),
        "path": str(run["path"]),
    }


def _figure_separation(runs, sets, plt):
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(sets) * (len(runs) + 1)), 3.8))
    width = 0.8 / (len(runs) + 1)
    x = np.arange(len(sets))
    first = runs[0]["metrics"].get("zero_shot") or {}
    ax.bar(
        x,
        [(first.get(s) or {}).get("separation", np.nan) for s in sets],
        width,
        color=ZERO_SHOT_COLOR,
        label=f"zero-shot ({runs[0]['metrics'].get('model')})",
    )
    palette = [ADAPTED_COLOR, "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
    for i, run in enumerate(runs, start=1):
        values = [(run["metrics"]["final"].get(s) or {}).get("separation", np.nan) for s in sets]
        ax.bar(x + i * width, values, width, color=palette[(i - 1) % len(palette)], label=run["path"].name)
    ax.set_xticks(x + width * len(runs) / 2, sets, rotation=30, ha="right")
    ax.set_ylabel("separation")
    ax.set_title(FIGURES["separation_by_set"], fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def _figure_auc_change(runs, sets, plt):
    values = np.full((len(runs), len(sets)), np.nan)
    for i, run in enumerate(runs):
        zero_shot = run["metrics"].get("zero_shot") or {}
        for j, name in enumerate(sets):
            before, after = (zero_shot.get(name) or {}).get("auc"), (run["metrics"]["final"].get(name) or {}).get("auc")
            if before is not None and after is not None:
                values[i, j] = after - before
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(sets) + 3), 0.5 * len(runs) + 2))
    limit = max(0.02, float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.02)
    image = ax.imshow(values, cmap="PuOr", vmin=-limit, vmax=limit, aspect="auto")  # diverging, colour-blind safe
    ax.set_xticks(range(len(sets)), sets, rotation=30, ha="right")
    ax.set_yticks(range(len(runs)), [run["path"].name for run in runs])
    ax.grid(False)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:+.3f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="ROC-AUC change")
    ax.set_title(FIGURES["auc_change"], fontsize=9)
    fig.tight_layout()
    return fig


COLUMNS = [
    ("run", "run"),
    ("model", "model"),
    ("target", "target"),
    ("separation zero-shot", "separation_zero_shot"),
    ("adapted", "separation"),
    ("ROC-AUC zero-shot", "auc_zero_shot"),
    ("adapted", "auc"),
    ("negation acc.", "negation_accuracy"),
    ("worst change elsewhere", "worst_other_change"),
    ("harmed", "harmed_sets"),
    ("PEFT", "peft"),
    ("loss", "loss"),
    ("pairs", "pairs"),
    ("steps", "steps"),
    ("training (s)", "train_seconds"),
]


def compare_runs(run_dirs: list[str | Path], out: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
    """Write the comparison of ``run_dirs`` into ``out`` (see the module docstring); ``overwrite``
    replaces an earlier comparison there (never another directory), once the new one is complete."""
    out = Path(out)
    runs = [read_run(Path(path)) for path in run_dirs]
    if not runs:
        raise CardioloraError("give at least one training run directory to compare")
    if overwrite:
        refuse_foreign_directory(out, is_comparison_directory, "cardiolora comparison directory")
    elif out.exists():
        raise CardioloraError(f"{out} exists; choose a new --out, or pass --overwrite to replace a comparison")
    rows = [run_row(run) for run in runs]
    sets = list(dict.fromkeys(name for run in runs for name in run["metrics"]["final"]))
    per_set = [[name, *[(run["metrics"]["final"].get(name) or {}).get("separation") for run in runs]] for name in sets]
    markdown = "\n\n".join(
        [
            "# Comparison of training runs",
            "Produced by `cardiolora report " + " ".join(str(r["path"]) for r in runs) + f" --out {out}`.",
            markdown_table([h for h, _ in COLUMNS], [[row[k] for _, k in COLUMNS] for row in rows]),
            "## Adapted separation per evaluation set",
            markdown_table(["eval set", *[run["path"].name for run in runs]], per_set),
            *[f"### {title}\n\n![{title}](figures/{key}.png)" for key, title in FIGURES.items()],
        ]
    )
    over = over_runs(runs)
    if over:
        markdown += (
            f"\n\n## Over the {len(runs)} runs\n\nEach set's change over the base model averaged over the runs "
            "(seeds of one recipe, typically), with a paired bootstrap 95% CI over the pairs; harmed: the CI below "
            f"zero and the change worse than -{over[0].tolerance}.\n\n" + over_runs_table(over)
        )
    maps = {f"embedding_map-{n}": run for n, run in enumerate(runs, start=1) if run["map"].get("texts")}
    if maps:
        markdown += "\n\n## Embedding maps (the target set, base and adapted)\n\n" + "\n\n".join(
            f"### {run['path']}\n\n![{run['path'].name}](figures/{key}.png)" for key, run in maps.items()
        )
    plt = pyplot()
    with lock_directory(out, what="comparison directory"):
        with atomic_directory(out, replace=overwrite) as staging:
            (staging / "figures").mkdir()
            save_figure(_figure_separation(runs, sets, plt), staging / "figures" / "separation_by_set.png")
            save_figure(_figure_auc_change(runs, sets, plt), staging / "figures" / "auc_change.png")
            for key, run in maps.items():
                name = f"{run['path'].name} ({run['metrics'].get('model')})"
                save_figure(plot_embedding_map(name, run["map"], plt), staging / "figures" / f"{key}.png")
            write_csv(rows, staging / "results.csv")
            (staging / "report.md").write_text(markdown + "\n", encoding="utf-8")
            write_json_atomic(
                staging / COMPARISON_MARKER, {"schema": COMPARISON_SCHEMA, "runs": [str(r["path"]) for r in runs]}
            )
    figures = [*FIGURES, *maps]
    return {name: out / name for name in ("report.md", "results.csv", *[f"figures/{k}.png" for k in figures])}
