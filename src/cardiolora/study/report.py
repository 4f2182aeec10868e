"""``cardiolora report STUDY_DIR``: results.csv, report.md, a self-contained report.html and the
figures (PNG, matplotlib) of a study directory. Whatever is finished is reported; what is missing is
said, not invented."""

from __future__ import annotations

import base64
import csv
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.evaluation.retention import DEFAULT_TOLERANCE, RetentionRow, retention_table, retention_warnings
from cardiolora.io import atomic_path, write_text_atomic
from cardiolora.study import stats
from cardiolora.study.results import StudyResults, cosines_by_category, load_results, pair_labels

CLINICALLY_USEFUL = 0.3
FIGURES = {
    "separation": "Separation score per model (adapted), 95% CI, 0.3 line",
    "zero_shot_vs_adapted": "Zero-shot vs adapted separation",
    "pareto_throughput": "Separation vs throughput (Pareto frontier, marker size = memory)",
    "memory_vs_parameters": "Inference memory vs parameters",
    "category_distributions": "Cosine distributions per pair category",
    "radar": "Normalized metrics per model",
    "ablation_heatmap": "Ablation: separation over the grid",
}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.{digits}f}"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value / 1e6:.1f}M"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- rows
def model_rows(results: StudyResults) -> list[dict[str, Any]]:
    head = results.headline_set
    rows = []
    for m in results.models:
        adapted = m.adapted.get(head) or {}
        similar, different = m.category_means(head)
        ci = adapted.get("separation_ci") or [None, None]
        row = {
            "kind": "model", "name": m.name, "family": m.family, "parameters": m.parameters, "dimension": m.dimension,
            "similar_mean": similar, "different_mean": different, "separation": adapted.get("separation"),
            "ci_low": ci[0], "ci_high": ci[1], "tier": adapted.get("tier"),
            "zero_shot_separation": m.separation(head, adapted=False),
            "auc": adapted.get("auc"), "zero_shot_auc": (m.zero_shot.get(head) or {}).get("auc"),
            "negation_accuracy": adapted.get("negation_accuracy"),
            "zero_shot_negation_accuracy": (m.zero_shot.get(head) or {}).get("negation_accuracy"),
            "emb_per_s": m.emb_per_s, "memory_gb": m.memory_gb,
            "latency_p50_ms": m.bench["latency"]["p50_ms"] if m.bench else None,
            "latency_p95_ms": m.bench["latency"]["p95_ms"] if m.bench else None,
            "emb_per_s_per_gb": m.bench["emb_per_s_per_gb"] if m.bench else None,
            "share_of_matmul_peak": m.bench["compute"]["share_of_peak"] if m.bench else None,
            "train_seconds": (m.training or {}).get("seconds"), "train_pairs": (m.training or {}).get("pairs"),
        }  # fmt: skip
        gain = None if row["separation"] is None or row["zero_shot_separation"] is None else row["separation"] - row["zero_shot_separation"]
        row["gain"] = gain
        for name in results.transfer_sets:
            row[f"{name}_zero_shot"] = m.separation(name, adapted=False)
            row[f"{name}_adapted"] = m.separation(name)
            row[f"{name}_retention"] = stats.retention(m.separation(name), row["separation"])
            row[f"{name}_auc_zero_shot"] = (m.zero_shot.get(name) or {}).get("auc")
            row[f"{name}_auc_adapted"] = (m.adapted.get(name) or {}).get("auc")
        row["harmed_sets"] = ";".join(r.eval_set for r in model_retention(results, m) if r.harmed)
        rows.append(row)
    return rows


def model_retention(results: StudyResults, model) -> list[RetentionRow]:
    """Zero-shot against adapted on every retention set of the study (all but the headline set)."""
    keep = {name: model.adapted[name] for name in results.transfer_sets if name in model.adapted}
    return retention_table(model.zero_shot, keep, target=results.headline_set)


def retention_section(results: StudyResults) -> list[str]:
    """The retention table of every finished model, with a warning for each set it harmed."""
    lines, warnings = [], []
    for model in results.models:
        for row in model_retention(results, model):
            lines.append([model.name, row.eval_set, row.separation_zero_shot, row.separation_adapted,
                          row.separation_change, row.auc_zero_shot, row.auc_adapted, row.auc_change,
                          "**harmed**" if row.harmed else "kept"])  # fmt: skip
        warnings += [f"- **{model.name}**, {w}" for w in retention_warnings(model_retention(results, model))]
    if not lines:
        return []
    out = ["", "## Retention: the other specialties and general English", "",
           f"Each set the adapter is not for, base model (zero-shot) against adapted; a fall of more than "
           f"{DEFAULT_TOLERANCE} in separation or ROC-AUC is harm.", "",
           _table(["model", "eval set", "separation zero-shot", "adapted", "change", "ROC-AUC zero-shot", "adapted",
                   "change", ""], lines)]  # fmt: skip
    out += ["", "**Warning: the adapter is worse than the base model on:**", "", *warnings] if warnings else [
        "", "No set fell by more than the tolerance."]  # fmt: skip
    return out


def ablation_rows(results: StudyResults) -> list[dict[str, Any]]:
    head = results.headline_set
    ablated = (results.config.get("ablation") or {}).get("model")
    base = next((m.zero_shot for m in results.models if m.name == ablated), {})
    rows = []
    for cell in results.ablation:
        adapted = cell.adapted.get(head) or {}
        row = {"kind": "ablation", "name": cell.name, **cell.axes, "separation": adapted.get("separation"),
               "auc": adapted.get("auc"), "negation_accuracy": adapted.get("negation_accuracy"),
               "train_seconds": (cell.training or {}).get("seconds")}  # fmt: skip
        for name in results.transfer_sets:
            row[f"{name}_adapted"] = (cell.adapted.get(name) or {}).get("separation")
        # Retention against the ablated model's own zero-shot evaluation (the same base weights).
        kept = {name: cell.adapted[name] for name in results.transfer_sets if name in cell.adapted}
        retention = retention_table(base, kept, target=head)
        changes = [r.auc_change for r in retention if r.auc_change is not None]
        row["retention_auc_change_mean"] = sum(changes) / len(changes) if changes else None
        row["harmed_sets"] = ";".join(r.eval_set for r in retention if r.harmed)
        rows.append(row)
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})
    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    _plt().close(fig)
    return path


def _no_data(plt, title: str, message: str):
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def figure_separation(rows, plt, head: str):
    rows = [r for r in rows if r["separation"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["separation"], "no adapted model finished yet")
    rows = sorted(rows, key=lambda r: r["separation"], reverse=True)
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows) + 2), 3.6))
    x = np.arange(len(rows))
    values = [r["separation"] for r in rows]
    low = [r["separation"] - (r["ci_low"] if r["ci_low"] is not None else r["separation"]) for r in rows]
    high = [(r["ci_high"] if r["ci_high"] is not None else r["separation"]) - r["separation"] for r in rows]
    colors = ["tab:blue" if r["family"] == "encoder" else "tab:orange" for r in rows]
    ax.bar(x, values, color=colors, yerr=[low, high], capsize=4)
    ax.axhline(CLINICALLY_USEFUL, color="tab:red", linestyle="--", label="0.3: clinically useful (study)")
    ax.set_xticks(x, [r["name"] for r in rows], rotation=20, ha="right")
    ax.set_ylabel(f"separation on {head} (cosine)")
    ax.set_title("Adapted separation per model, 95% bootstrap CI (blue encoder, orange decoder)")
    ax.legend(loc="upper right")
    return fig


def figure_zero_shot_vs_adapted(rows, plt, head: str):
    rows = [r for r in rows if r["separation"] is not None and r["zero_shot_separation"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["zero_shot_vs_adapted"], "no model has both evaluations yet")
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows) + 2), 3.6))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["zero_shot_separation"] for r in rows], 0.4, label="zero-shot", color="tab:gray")
    ax.bar(x + 0.2, [r["separation"] for r in rows], 0.4, label="adapted (LoRA)", color="tab:green")
    ax.axhline(CLINICALLY_USEFUL, color="tab:red", linestyle="--", linewidth=1)
    ax.set_xticks(x, [r["name"] for r in rows], rotation=20, ha="right")
    ax.set_ylabel(f"separation on {head} (cosine)")
    ax.set_title("Zero-shot vs adapted separation")
    ax.legend()
    return fig


def figure_pareto(rows, plt, front: list[str]):
    rows = [r for r in rows if r["separation"] is not None and r["emb_per_s"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["pareto_throughput"], "no model has both an adapted evaluation and a benchmark")
    fig, ax = plt.subplots(figsize=(6, 4))
    memory = np.array([r["memory_gb"] or 0.0 for r in rows])
    sizes = 60 + 600 * memory / max(memory.max(), 1e-9)
    ax.scatter([r["emb_per_s"] for r in rows], [r["separation"] for r in rows], s=sizes, alpha=0.6, color="tab:blue")
    for r in rows:
        ax.annotate(f"{r['name']} ({r['memory_gb']:.2f} GB)", (r["emb_per_s"], r["separation"]), textcoords="offset points", xytext=(6, 6))
    points = sorted((r["emb_per_s"], r["separation"]) for r in rows if r["name"] in front)
    if points:
        ax.plot(*zip(*points), color="tab:red", linestyle="-", marker="", label="Pareto frontier")
        ax.legend()
    ax.set_xscale("log")
    ax.set_xlabel("throughput (embeddings/s, best batch size, log scale)")
    ax.set_ylabel("adapted separation (cosine)")
    ax.set_title("Separation vs throughput (marker area ~ inference memory)")
    return fig


def figure_memory(rows, plt):
    rows = [r for r in rows if r["memory_gb"] is not None and r["parameters"]]
    if not rows:
        return _no_data(plt, FIGURES["memory_vs_parameters"], "no benchmark finished yet")
    fig, ax = plt.subplots(figsize=(6, 4))
    params = [r["parameters"] / 1e6 for r in rows]
    ax.scatter(params, [r["memory_gb"] for r in rows], color="tab:purple")
    for r, p in zip(rows, params):
        ax.annotate(r["name"], (p, r["memory_gb"]), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("inference memory (GB)")
    ax.set_title("Inference memory vs parameters")
    return fig


def figure_categories(results: StudyResults, plt):
    head = results.headline_set
    models = [m for m in results.models if m.adapted.get(head)]
    if not models:
        return _no_data(plt, FIGURES["category_distributions"], "no adapted evaluation yet")
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models) + 1, 3.6), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], models):
        data, labels = [], []
        colors = []
        for phase, evaluations, color in (("zero-shot", m.zero_shot, "lightgray"), ("adapted", m.adapted, "tab:green")):
            if head not in evaluations:
                continue
            for category, values in cosines_by_category(evaluations[head]).items():
                data.append(values)
                labels.append(f"{category} ({phase})")
                colors.append(color)
        boxes = ax.boxplot(data, tick_labels=labels, patch_artist=True)
        for patch, color in zip(boxes["boxes"], colors):
            patch.set_facecolor(color)
        ax.tick_params(axis="x", labelsize=7, labelrotation=60)
        ax.set_title(m.name)
    axes[0][0].set_ylabel(f"pair cosine on {head}")
    fig.suptitle("Cosine of each pair category, zero-shot and adapted")
    return fig


def figure_radar(rows, plt, transfer_sets: list[str]):
    metrics = [("separation", "separation", True), ("auc", "ROC-AUC", True), ("negation_accuracy", "negation acc.", True),
               ("emb_per_s", "throughput", True), ("memory_gb", "memory (low=good)", False)]  # fmt: skip
    metrics += [(f"{s}_retention", f"{s} retention", True) for s in transfer_sets]
    rows = [r for r in rows if r["separation"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["radar"], "no adapted model finished yet")
    metrics = [m for m in metrics if any(r.get(m[0]) is not None for r in rows)]
    angles = np.linspace(0, 2 * np.pi, len(metrics), endpoint=False).tolist()
    fig = plt.figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot(polar=True)
    for r in rows:
        values = []
        for key, _, higher in metrics:
            column = [x.get(key) for x in rows if x.get(key) is not None]
            v = r.get(key)
            if v is None:
                values.append(0.0)
                continue
            lo, hi = min(column), max(column)
            # One model (or equal values): normalize by the largest magnitude instead of the range.
            score = (v - lo) / (hi - lo) if hi > lo else (1.0 if v else 0.0)
            values.append(score if higher else 1.0 - score if hi > lo else 1.0)
        ax.plot(angles + angles[:1], values + values[:1], label=r["name"])
        ax.fill(angles + angles[:1], values + values[:1], alpha=0.1)
    ax.set_xticks(angles, [m[1] for m in metrics])
    ax.set_ylim(0, 1)
    title = "Metrics normalized across the models here (1 = best)"
    ax.set_title(title if len(rows) > 1 else title + "\n(one model: every axis is 1)")
    ax.legend(loc="lower right", bbox_to_anchor=(1.3, -0.1))
    return fig


def figure_ablation(rows, plt):
    rows = [r for r in rows if r["separation"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["ablation_heatmap"], "no ablation in this study (add an [ablation] block)")
    panels = sorted({(r["loss"], r["peft"]) for r in rows})
    fractions = sorted({r["data_fraction"] for r in rows})
    ranks = sorted({r["rank"] for r in rows})
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.4 * len(panels) + 1.5, 3.4), squeeze=False, layout="constrained", sharey=True
    )
    values = [r["separation"] for r in rows]
    vmin, vmax = min(values), max(values)
    image = None
    for ax, (loss, peft) in zip(axes[0], panels):
        grid = np.full((len(fractions), len(ranks)), np.nan)
        for r in rows:
            if (r["loss"], r["peft"]) == (loss, peft):
                grid[fractions.index(r["data_fraction"]), ranks.index(r["rank"])] = r["separation"]
        image = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-6, aspect="auto")
        for i in range(len(fractions)):
            for j in range(len(ranks)):
                if not np.isnan(grid[i, j]):
                    light = (grid[i, j] - vmin) / ((vmax - vmin) or 1) > 0.6
                    ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color="black" if light else "white", fontsize=8)
        ax.set_xticks(range(len(ranks)), [str(r) for r in ranks])
        ax.set_yticks(range(len(fractions)), [f"{f:g}" for f in fractions])
        ax.set_xlabel("LoRA rank")
        ax.set_title(f"{loss}, {peft}")
        ax.grid(False)
    axes[0][0].set_ylabel("data fraction")
    fig.colorbar(image, ax=axes[0].tolist(), label="separation (cosine)")
    fig.suptitle("Ablation grid: adapted separation")
    return fig


# ---------------------------------------------------------------- markdown
def _statistics_section(results: StudyResults, rows) -> tuple[str, dict[str, Any]]:
    head = results.headline_set
    samples = {}
    for m in results.models:
        evaluation = m.adapted.get(head)
        if evaluation:
            samples[m.name] = stats.separation_contributions(np.asarray(evaluation["pair_cosines"]), pair_labels(evaluation))
    tests = stats.pairwise_welch(samples)
    finished = [r for r in rows if r["separation"] is not None]
    r_params = stats.pearson([r["parameters"] for r in finished], [r["separation"] for r in finished])
    r_dim = stats.pearson([r["dimension"] for r in finished], [r["separation"] for r in finished])
    benched = [r for r in finished if r["emb_per_s"] is not None]
    front_speed = stats.pareto_front({r["name"]: (r["emb_per_s"], r["separation"]) for r in benched})
    front_memory = stats.pareto_front({r["name"]: (-r["memory_gb"], r["separation"]) for r in benched})
    lines = ["## Statistics", ""]
    if tests:
        lines += [
            f"Welch t-tests on per-pair separation terms ({head}), Holm-Bonferroni over {len(tests)} comparisons:",
            "",
            _table(["model A", "model B", "difference", "t", "p", "p (Holm)", "Cohen's d", "significant"],
                   [[t.a, t.b, t.mean_difference, t.t, t.p, t.p_holm, t.cohens_d, "yes" if t.significant else "no"] for t in tests]),
        ]  # fmt: skip
    else:
        lines.append("Pairwise tests need at least two adapted models.")

    def corr(label: str, c: stats.Correlation) -> str:
        return f"- Pearson r of separation against {label}: " + (
            f"{c.r:.3f} (p = {c.p:.3g}, n = {c.n})" if c.r is not None else f"n/a ({c.note}; n = {c.n})"
        )

    lines += ["", corr("parameter count", r_params), corr("embedding dimension", r_dim),
              f"- Pareto-optimal on (separation, throughput): {', '.join(front_speed) or 'n/a'}",
              f"- Pareto-optimal on (separation, memory): {', '.join(front_memory) or 'n/a'}"]  # fmt: skip
    return "\n".join(lines), {"front_speed": front_speed}


def _versions_line(results: StudyResults) -> str:
    keep = ("cardiolora", "torch", "transformers", "sentence-transformers", "peft")
    return ", ".join(f"{k} {results.versions[k]}" for k in keep if k in results.versions)


def build_markdown(results: StudyResults, rows, cells, figures: dict[str, Path], extra_stats: str) -> str:
    head = results.headline_set
    cfg = results.config
    finished = [r for r in rows if r["separation"] is not None]
    out = [f"# Study report: {cfg['name']}", ""]
    out.append(f"Study directory `{results.study_dir}`; headline evaluation set `{head}`; transfer sets: "
               f"{', '.join(results.transfer_sets) or 'none'}; seed {cfg['seed']}. Produced by "
               f"`cardiolora report {results.study_dir}` from the files of `cardiolora study run`. {_versions_line(results)}.")  # fmt: skip
    missing = [r["name"] for r in rows if r["separation"] is None]
    if missing:
        out += ["", f"**Not finished:** {', '.join(missing)} (re-run `cardiolora study run` to resume)."]
    if results.unavailable:
        out += ["", "**Unavailable here (skipped):**", ""]
        out += [f"- `{name}`: {why}" for name, why in results.unavailable.items()]
    if finished:
        best = max(finished, key=lambda r: r["separation"])
        out += ["", "## Answer", "",
                f"Best adapted separation on `{head}`: **{best['name']}** ({best['separation']:.3f}, "
                f"95% CI [{_fmt(best['ci_low'])}, {_fmt(best['ci_high'])}], tier {best['tier']}); "
                f"throughput {_fmt(best['emb_per_s'], 1)} emb/s, memory {_fmt(best['memory_gb'])} GB."]  # fmt: skip
    out += ["", "## Performance", "", _table(
        ["model", "family", "params", "dim", "sim(similar)", "sim(different)", "separation", "95% CI", "tier", "ROC-AUC", "negation acc."],
        [[r["name"], r["family"], r["parameters"], r["dimension"], r["similar_mean"], r["different_mean"], r["separation"],
          f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]", r["tier"], r["auc"], r["negation_accuracy"]] for r in rows])]  # fmt: skip
    out += ["", "## Zero-shot vs adapted", "", _table(
        ["model", "zero-shot separation", "adapted", "gain", "zero-shot ROC-AUC", "adapted ROC-AUC", "zero-shot negation acc.", "adapted negation acc.", "training (s)"],
        [[r["name"], r["zero_shot_separation"], r["separation"], r["gain"], r["zero_shot_auc"], r["auc"],
          r["zero_shot_negation_accuracy"], r["negation_accuracy"], r["train_seconds"]] for r in rows])]  # fmt: skip
    out += ["", "## Efficiency", "", _table(
        ["model", "emb/s (best batch)", "latency p50 (ms)", "latency p95 (ms)", "memory (GB)", "emb/s per GB", "share of matmul peak"],
        [[r["name"], r["emb_per_s"], r["latency_p50_ms"], r["latency_p95_ms"], r["memory_gb"], r["emb_per_s_per_gb"],
          r["share_of_matmul_peak"]] for r in rows])]  # fmt: skip
    out += retention_section(results)
    if cells:
        out += ["", "## Ablation", "", _table(
            ["cell", "data fraction", "rank", "loss", "PEFT", "separation", "ROC-AUC", "negation acc.",
             "other sets: mean ROC-AUC change", "harmed sets", "training (s)"],
            [[c["name"], f"{c['data_fraction']:g}", c["rank"], c["loss"], c["peft"], c["separation"], c["auc"], c["negation_accuracy"],
              c["retention_auc_change_mean"], len(c["harmed_sets"].split(";")) if c["harmed_sets"] else 0,
              c["train_seconds"]] for c in cells])]  # fmt: skip
    out += ["", extra_stats, "", "## Figures", ""]
    for key, path in figures.items():
        out += [f"### {FIGURES[key]}", "", f"![{FIGURES[key]}]({path.relative_to(results.study_dir).as_posix()})", ""]
    out += ["Tiers (the study's): >= 0.45 high, 0.25-0.45 moderate, < 0.25 low; 0.3 is called clinically useful.",
            "Tables as CSV: `results.csv`."]  # fmt: skip
    return "\n".join(out) + "\n"


def markdown_to_html(markdown: str, base_dir: Path, title: str) -> str:
    """report.md as one HTML file with the figures inlined (base64), readable offline and mailable."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        data = base64.b64encode((base_dir / match.group(1)).read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}img{max-width:100%}code{background:#f4f4f4;padding:0 3px}")  # fmt: skip
    return f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style></head><body>\n{body}</body></html>\n"


def write_report(study_dir: str | Path) -> dict[str, Path]:
    """Write results.csv, figures/*.png, report.md and report.html into ``study_dir``."""
    study_dir = Path(study_dir)
    results = load_results(study_dir)
    rows = model_rows(results)
    cells = ablation_rows(results)
    write_csv(rows + cells, study_dir / "results.csv")
    extra, facts = _statistics_section(results, rows)
    plt = _plt()
    builders = {
        "separation": lambda: figure_separation(rows, plt, results.headline_set),
        "zero_shot_vs_adapted": lambda: figure_zero_shot_vs_adapted(rows, plt, results.headline_set),
        "pareto_throughput": lambda: figure_pareto(rows, plt, facts["front_speed"]),
        "memory_vs_parameters": lambda: figure_memory(rows, plt),
        "category_distributions": lambda: figure_categories(results, plt),
        "radar": lambda: figure_radar(rows, plt, results.transfer_sets),
        "ablation_heatmap": lambda: figure_ablation(cells, plt),
    }
    figures = {key: _save(build(), study_dir / "figures" / f"{key}.png") for key, build in builders.items()}
    markdown = build_markdown(results, rows, cells, figures, extra)
    write_text_atomic(study_dir / "report.md", markdown)
    write_text_atomic(study_dir / "report.html", markdown_to_html(markdown, study_dir, f"Study report: {results.config['name']}"))
    return {"report.md": study_dir / "report.md", "report.html": study_dir / "report.html",
            "results.csv": study_dir / "results.csv", **{f"figures/{k}.png": v for k, v in figures.items()}}  # fmt: skip
