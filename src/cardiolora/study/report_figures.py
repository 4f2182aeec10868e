"""The figures of a study report (PNG, matplotlib), each from the rows of
:mod:`cardiolora.study.report_tables`; a figure without data says so instead of plotting nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardiolora.evaluation.metrics import CLINICALLY_USEFUL
from cardiolora.io import atomic_path
from cardiolora.study.results import StudyResults, cosines_by_category

FIGURES = {
    "separation": "Separation score per model (adapted), 95% CI, 0.3 line",
    "zero_shot_vs_adapted": "Zero-shot vs adapted separation",
    "pareto_throughput": "Separation vs throughput (Pareto frontier, marker size = memory)",
    "memory_vs_parameters": "Inference memory vs parameters",
    "category_distributions": "Cosine distributions per pair category",
    "radar": "Normalized metrics per model",
    "ablation_heatmap": "Ablation: separation over the grid",
    "retention": "Retention: zero-shot vs adapted separation and ROC-AUC on every evaluation set",
    "embedding_map": "Embedding map: the headline set's texts in 2-D (one PCA), zero-shot and adapted",
}
# Okabe-Ito: distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILION = OKABE_ITO[:6]
ZERO_SHOT_COLOR, ADAPTED_COLOR = "#999999", BLUE


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 9,
            "axes.prop_cycle": plt.cycler(color=OKABE_ITO),
        }
    )
    return plt


def save_figure(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    pyplot().close(fig)
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
    colors = [BLUE if r["family"] == "encoder" else ORANGE for r in rows]
    ax.bar(x, values, color=colors, yerr=[low, high], capsize=4)
    ax.axhline(CLINICALLY_USEFUL, color=VERMILION, linestyle="--", label="0.3: clinically useful (study)")
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
    ax.bar(x - 0.2, [r["zero_shot_separation"] for r in rows], 0.4, label="zero-shot", color=ZERO_SHOT_COLOR)
    ax.bar(x + 0.2, [r["separation"] for r in rows], 0.4, label="adapted (LoRA)", color=ADAPTED_COLOR)
    ax.axhline(CLINICALLY_USEFUL, color=VERMILION, linestyle="--", linewidth=1)
    ax.set_xticks(x, [r["name"] for r in rows], rotation=20, ha="right")
    ax.set_ylabel(f"separation on {head} (cosine)")
    ax.set_title("Zero-shot vs adapted separation")
    ax.legend()
    return fig


def _annotate_inside(ax, points, labels, log_x: bool = False) -> None:
    """Point labels that stay inside the axes: a point in the right third of the x axis (set its
    limits first) is labelled to its left."""
    lo, hi = ax.get_xlim()
    if log_x:
        lo, hi = np.log10(lo), np.log10(hi)
    for (x, y), label in zip(points, labels, strict=True):
        position = np.log10(x) if log_x else x
        right = hi > lo and (position - lo) / (hi - lo) > 0.66
        ax.annotate(
            label,
            (x, y),
            textcoords="offset points",
            xytext=(-8 if right else 8, 6),
            ha="right" if right else "left",
            fontsize=8,
        )


def _short_label(text: str, limit: int = 32) -> str:
    """A label of at most ``limit`` characters, cut at a word: "no evidence of ..." keeps its words."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3].rsplit(" ", 1)[0]
    return (cut if len(cut) >= limit // 2 else text[: limit - 3]) + "..."


def _label_without_overlap(ax, points, labels, avoid) -> None:
    """Labels moved apart from each other and from the plotted points (adjustText), each joined to its
    point by a thin leader line, kept inside the axes: labels of nearby points no longer pile up."""
    from adjustText import adjust_text

    texts = [ax.text(x, y, label, fontsize=7) for (x, y), label in zip(points, labels, strict=True)]
    if not texts:
        return
    adjust_text(
        texts,
        x=np.asarray(avoid)[:, 0],
        y=np.asarray(avoid)[:, 1],
        ax=ax,
        arrowprops={"arrowstyle": "-", "color": "0.35", "lw": 0.5},
        ensure_inside_axes=True,
    )


def figure_pareto(rows, plt, front: list[str]):
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    rows = [r for r in rows if r["separation"] is not None and r["emb_per_s"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["pareto_throughput"], "no model has both an adapted evaluation and a benchmark")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    memory = np.array([r["memory_gb"] or 0.0 for r in rows])
    sizes = 60 + 600 * memory / max(memory.max(), 1e-9)
    speeds = [r["emb_per_s"] for r in rows]
    ax.scatter(speeds, [r["separation"] for r in rows], s=sizes, alpha=0.6, color=BLUE)
    labels = [f"{r['name']} ({r['memory_gb']:.2f} GB)" if r["memory_gb"] is not None else r["name"] for r in rows]
    points = [(r["emb_per_s"], r["separation"]) for r in rows]
    # A log axis only when the speeds span a decade or more; its ticks at 1, 2 and 5 per decade, plain
    # numbers, so that labels never run into each other (matplotlib's default labels every minor tick).
    log_x = max(speeds) / min(speeds) >= 10
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(min(speeds) / 1.5, max(speeds) * 1.5)
    else:
        span = max(speeds) - min(speeds) or max(speeds) * 0.2
        ax.set_xlim(min(speeds) - 0.25 * span, max(speeds) + 0.25 * span)
    _annotate_inside(ax, points, labels, log_x)
    frontier = sorted(p for p, r in zip(points, rows, strict=True) if r["name"] in front)
    if len(frontier) > 1:  # one point is no line
        ax.plot(*zip(*frontier, strict=True), color=VERMILION, linestyle="-", marker="", label="Pareto frontier")
        ax.legend(loc="lower left")
    ax.set_xlabel("throughput (embeddings/s, best batch size" + (", log scale)" if log_x else ")"))
    ax.set_ylabel("adapted separation (cosine)")
    ax.set_title("Separation vs throughput (marker area ~ inference memory)")
    return fig


def figure_memory(rows, plt):
    rows = [r for r in rows if r["memory_gb"] is not None and r["parameters"]]
    if not rows:
        return _no_data(plt, FIGURES["memory_vs_parameters"], "no benchmark finished yet")
    fig, ax = plt.subplots(figsize=(6, 4))
    params = [r["parameters"] / 1e6 for r in rows]
    ax.scatter(params, [r["memory_gb"] for r in rows], color=PURPLE)
    _annotate_inside(ax, [(p, r["memory_gb"]) for r, p in zip(rows, params, strict=True)], [r["name"] for r in rows])
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
    for ax, m in zip(axes[0], models, strict=True):
        data, labels = [], []
        colors = []
        for phase, evaluations, color in (
            ("zero-shot", m.zero_shot, "lightgray"),
            ("adapted", m.adapted, ADAPTED_COLOR),
        ):
            if head not in evaluations:
                continue
            for category, values in cosines_by_category(evaluations[head]).items():
                data.append(values)
                labels.append(f"{category} ({phase})")
                colors.append(color)
        boxes = ax.boxplot(data, tick_labels=labels, patch_artist=True)
        for patch, color in zip(boxes["boxes"], colors, strict=True):
            patch.set_facecolor(color)
        ax.tick_params(axis="x", labelsize=7, labelrotation=60)
        ax.set_title(m.name)
    axes[0][0].set_ylabel(f"pair cosine on {head}")
    fig.suptitle("Cosine of each pair category, zero-shot and adapted")
    return fig


def figure_radar(rows, plt, transfer_sets: list[str]):
    metrics = [
        ("separation", "separation", True),
        ("auc", "ROC-AUC", True),
        ("negation_accuracy", "negation acc.", True),
        ("emb_per_s", "throughput", True),
        ("memory_gb", "memory (low=good)", False),
    ]
    metrics += [(f"{s}_retention", f"{s} retention", True) for s in transfer_sets]
    rows = [r for r in rows if r["separation"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["radar"], "no adapted model finished yet")
    metrics = [m for m in metrics if any(r.get(m[0]) is not None for r in rows)]
    if len(rows) == 1:
        return _single_model_profile(rows[0], metrics, plt)
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
    ax.set_title("Metrics normalized across the models here (1 = best)")
    ax.legend(loc="lower right", bbox_to_anchor=(1.3, -0.1))
    return fig


def _single_model_profile(row, metrics, plt):
    """With one model a radar normalized across models is a full circle that says nothing: its raw
    values instead, the 0-1 metrics as bars and throughput and memory named in the title."""
    bounded = [(label, row.get(key)) for key, label, _ in metrics if key not in ("emb_per_s", "memory_gb")]
    bounded = [(label, value) for label, value in bounded if value is not None]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(bounded) + 1.6))
    y = np.arange(len(bounded))
    ax.barh(y, [value for _, value in bounded], color=BLUE)
    ax.set_yticks(y, [label for label, _ in bounded])
    ax.invert_yaxis()
    for i, (_, value) in enumerate(bounded):
        ax.text(value, i, f" {value:.3f}", va="center", fontsize=8)
    ax.set_xlim(min(0.0, *(v for _, v in bounded)), max(1.05, *(v * 1.15 for _, v in bounded)))
    extras = [
        f"{row['emb_per_s']:.0f} emb/s" if row.get("emb_per_s") else None,
        f"{row['memory_gb']:.2f} GB" if row.get("memory_gb") else None,
    ]
    ax.set_title(
        f"{row['name']}: metrics (one model; a radar needs two to compare)"
        + (f"\n{', '.join(e for e in extras if e)}" if any(extras) else "")
    )
    return fig


def figure_ablation(rows, plt):
    rows = [r for r in rows if r["separation"] is not None]
    if not rows:
        return _no_data(plt, FIGURES["ablation_heatmap"], "no ablation in this study (add an [ablation] block)")
    panels = sorted({(r["loss"], r["peft"]) for r in rows})
    fractions = sorted({r["data_fraction"] for r in rows})
    ranks = sorted({r["rank"] for r in rows})
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.4 * len(panels) + 1.5, 3.4),
        squeeze=False,
        layout="constrained",
        sharey=True,
    )
    values = [r["separation"] for r in rows]
    vmin, vmax = min(values), max(values)
    image = None
    for ax, (loss, peft) in zip(axes[0], panels, strict=True):
        grid = np.full((len(fractions), len(ranks)), np.nan)
        for r in rows:
            if (r["loss"], r["peft"]) == (loss, peft):
                grid[fractions.index(r["data_fraction"]), ranks.index(r["rank"])] = r["separation"]
        image = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-6, aspect="auto")
        for i in range(len(fractions)):
            for j in range(len(ranks)):
                if not np.isnan(grid[i, j]):
                    light = (grid[i, j] - vmin) / ((vmax - vmin) or 1) > 0.6
                    ax.text(
                        j,
                        i,
                        f"{grid[i, j]:.3f}",
                        ha="center",
                        va="center",
                        color="black" if light else "white",
                        fontsize=8,
                    )
        ax.set_xticks(range(len(ranks)), [str(r) for r in ranks])
        ax.set_yticks(range(len(fractions)), [f"{f:g}" for f in fractions])
        ax.set_xlabel("LoRA rank")
        ax.set_title(f"{loss}, {peft}")
        ax.grid(False)
    axes[0][0].set_ylabel("data fraction")
    fig.colorbar(image, ax=axes[0].tolist(), label="separation (cosine)")
    fig.suptitle("Ablation grid: adapted separation")
    return fig


def figure_retention(results: StudyResults, plt, max_models: int = 6):
    """Per model, the headline set and every retention set: zero-shot beside adapted, separation on
    the left and ROC-AUC on the right; a set whose fall exceeds the tolerance is named in red."""
    from cardiolora.study.report_tables import model_retention

    models = [m for m in results.models if m.adapted][:max_models]
    if not models:
        return _no_data(plt, FIGURES["retention"], "no adapted model finished yet")
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 2.8 * len(models)), squeeze=False)
    for row, model in zip(axes, models, strict=True):
        harmed = {r.eval_set for r in model_retention(results, model) if r.harmed}
        sets = [results.headline_set, *[s for s in results.transfer_sets if s in model.adapted]]
        x = np.arange(len(sets))
        for ax, metric, label in ((row[0], "separation", "separation"), (row[1], "auc", "ROC-AUC")):
            before = [(model.zero_shot.get(s) or {}).get(metric) for s in sets]
            after = [(model.adapted.get(s) or {}).get(metric) for s in sets]
            ax.bar(x - 0.2, [np.nan if v is None else v for v in before], 0.4, color=ZERO_SHOT_COLOR, label="zero-shot")
            ax.bar(x + 0.2, [np.nan if v is None else v for v in after], 0.4, color=ADAPTED_COLOR, label="adapted")
            ax.set_xticks(x, sets, rotation=35, ha="right")
            for tick, name in zip(ax.get_xticklabels(), sets, strict=True):
                if name in harmed:
                    tick.set_color("#D55E00")
            ax.set_ylabel(label)
            ax.set_title(f"{model.name}: {label}", fontsize=9)
            if metric == "auc":
                ax.set_ylim(0.4, 1.02)
        row[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Retention: zero-shot vs adapted (red: a fall of more than the tolerance)", fontsize=10)
    fig.tight_layout()
    return fig


def figure_embedding_map(results: StudyResults, plt, labelled: int = 6):
    """The first model with a map: its zero-shot and adapted projections side by side on the same
    axes, coloured by domain; the texts that moved most are labelled in both panels."""
    model = next((m for m in results.models if m.embedding_map), None)
    if model is None:
        return _no_data(plt, FIGURES["embedding_map"], "no adapted evaluation with an embedding map yet")
    return plot_embedding_map(model.name, model.embedding_map, plt, labelled)


def plot_embedding_map(name: str, data: dict, plt, labelled: int = 6):
    """One model's map (:func:`cardiolora.evaluation.embedding_map.embedding_map`), zero-shot and
    adapted side by side on the same axes."""
    before, after = np.asarray(data["zero_shot"]), np.asarray(data["adapted"])
    domains = data["domains"]
    # Not ``name``: that is the model's, and the panel titles say it.
    domain_names = list(dict.fromkeys(domains))
    colors = {domain: OKABE_ITO[i % len(OKABE_ITO)] for i, domain in enumerate(domain_names)}
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    both = np.concatenate([before, after])
    pad = 0.08 * (both.max(axis=0) - both.min(axis=0))
    lows, highs = both.min(axis=0) - pad, both.max(axis=0) + pad
    moved = np.argsort(data["moved"])[::-1][:labelled]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), sharex=True, sharey=True)
    for ax, points, title in ((axes[0], before, "zero-shot (base model)"), (axes[1], after, "adapted")):
        for i, domain in enumerate(domain_names):
            index = [j for j, d in enumerate(domains) if d == domain]
            ax.scatter(
                points[index, 0],
                points[index, 1],
                s=18,
                alpha=0.75,
                color=colors[domain],
                marker=markers[(i // len(OKABE_ITO)) % len(markers)],
                label=domain,
            )
        ax.set_xlim(lows[0], highs[0])
        ax.set_ylim(lows[1], highs[1])
        labels = [_short_label(data["texts"][j]) for j in moved]
        _label_without_overlap(ax, [tuple(points[j]) for j in moved], labels, points)
        ax.set_title(f"{name} on {data['eval_set']}: {title}", fontsize=9)
        ax.set_xlabel(f"PC1 ({100 * data['explained_variance'][0]:.0f}% of variance)")
    axes[0].set_ylabel(f"PC2 ({100 * data['explained_variance'][1]:.0f}% of variance)")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="domain")
    fig.suptitle(
        f"{data['eval_set']}: {len(data['texts'])} texts, one PCA over both (labelled: moved most)", fontsize=10
    )
    fig.tight_layout()
    return fig
