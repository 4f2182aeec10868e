"""``cardiolora report STUDY_DIR``: results.csv, report.md, a self-contained report.html and the
figures (PNG, matplotlib) of a study directory. Whatever is finished is reported; what is missing is
said, not invented.

The rows and tables are in :mod:`cardiolora.study.report_tables`, the figures in
:mod:`cardiolora.study.report_figures`; this module writes them out as Markdown and HTML."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.io import write_text_atomic
from cardiolora.study import stats
from cardiolora.study.report_figures import (
    FIGURES,
    figure_ablation,
    figure_categories,
    figure_embedding_map,
    figure_memory,
    figure_pareto,
    figure_radar,
    figure_retention,
    figure_separation,
    figure_zero_shot_vs_adapted,
    pyplot,
    save_figure,
)
from cardiolora.study.report_tables import (
    ablation_rows,
    ablation_table,
    comparison_table,
    efficiency_table,
    fmt_value,
    markdown_table,
    model_retention,
    model_rows,
    performance_table,
    retention_section,
    truncation_section,
    write_csv,
)
from cardiolora.study.results import StudyResults, biggest_movers, load_results, pair_labels

__all__ = ["FIGURES", "ablation_rows", "build_markdown", "model_retention", "model_rows", "write_report"]


def _statistics_section(results: StudyResults, rows) -> tuple[str, dict[str, Any]]:
    head = results.headline_set
    cosines, categories = {}, None
    for m in results.models:
        evaluation = m.adapted.get(head)
        if evaluation:
            cosines[m.name] = np.asarray(evaluation["pair_cosines"])
            categories = categories or pair_labels(evaluation)
    tests = stats.pairwise_paired(cosines, categories) if len(cosines) >= 2 and categories else []
    finished = [r for r in rows if r["separation"] is not None]
    r_params = stats.pearson([r["parameters"] for r in finished], [r["separation"] for r in finished])
    r_dim = stats.pearson([r["dimension"] for r in finished], [r["separation"] for r in finished])
    benched = [r for r in finished if r["emb_per_s"] is not None]
    front_speed = stats.pareto_front({r["name"]: (r["emb_per_s"], r["separation"]) for r in benched})
    front_memory = stats.pareto_front({r["name"]: (-r["memory_gb"], r["separation"]) for r in benched})
    lines = ["## Statistics", ""]
    if tests:
        lines += [
            f"Paired permutation tests on the same {head} pairs (each pair's two cosines swapped between the "
            f"models at random, 9,999 permutations), Holm-Bonferroni over {len(tests)} comparisons (separation "
            "and ROC-AUC of every two models):",
            "",
            markdown_table(
                ["model A", "model B", "metric", "A minus B", "p", "p (Holm)", "significant"],
                [
                    [
                        t.a,
                        t.b,
                        "ROC-AUC" if t.metric == "auc" else t.metric,
                        t.difference,
                        t.p,
                        t.p_holm,
                        "yes" if t.significant else "no",
                    ]
                    for t in tests
                ],  # fmt: skip
            ),
        ]
    else:
        lines.append("Pairwise tests need at least two adapted models.")

    def corr(label: str, c: stats.Correlation) -> str:
        return f"- Pearson r of separation against {label}: " + (
            f"{c.r:.3f} (p = {c.p:.3g}, n = {c.n})" if c.r is not None else f"n/a ({c.note}; n = {c.n})"
        )

    lines += [
        "",
        corr("parameter count", r_params),
        corr("embedding dimension", r_dim),
        f"- Pareto-optimal on (separation, throughput): {', '.join(front_speed) or 'n/a'}",
        f"- Pareto-optimal on (separation, memory): {', '.join(front_memory) or 'n/a'}",
    ]
    return "\n".join(lines), {"front_speed": front_speed}


def _versions_line(results: StudyResults) -> str:
    keep = ("cardiolora", "torch", "transformers", "sentence-transformers", "peft")
    return ", ".join(f"{k} {results.versions[k]}" for k in keep if k in results.versions)


def build_markdown(
    results: StudyResults,
    rows,
    cells,
    figures: dict[str, Path],
    extra_stats: str,
    figures_root: Path | None = None,
    out_arg: Path | None = None,
) -> str:
    head = results.headline_set
    cfg = results.config
    finished = [r for r in rows if r["separation"] is not None]
    out = [f"# Study report: {cfg['name']}", ""]
    out.append(
        f"Study directory `{results.study_dir}`; headline evaluation set `{head}`; transfer sets: "
        f"{', '.join(results.transfer_sets) or 'none'}; seed {cfg['seed']}. Produced by "
        f"`cardiolora report {results.study_dir}{f' --out {out_arg}' if out_arg else ''}` from the files of "
        "`cardiolora study run`. "
        f"{_versions_line(results)}."
    )
    missing = [r["name"] for r in rows if r["separation"] is None]
    if missing:
        out += ["", f"**Not finished:** {', '.join(missing)} (re-run `cardiolora study run` to resume)."]
    if results.unavailable:
        out += ["", "**Unavailable here (skipped):**", ""]
        out += [f"- `{name}`: {why}" for name, why in results.unavailable.items()]
    if finished:
        best = max(finished, key=lambda r: r["separation"])
        out += [
            "",
            "## Answer",
            "",
            f"Best adapted separation on `{head}`: **{best['name']}** ({best['separation']:.3f}, "
            f"95% CI [{fmt_value(best['ci_low'])}, {fmt_value(best['ci_high'])}], tier {best['tier']}); "
            f"throughput {fmt_value(best['emb_per_s'], 1)} emb/s, memory {fmt_value(best['memory_gb'])} GB.",
        ]
    out += ["", "## Performance", "", performance_table(rows)]
    out += ["", "## Zero-shot vs adapted", "", comparison_table(rows), ""]
    out += [
        f"MRR@10 and Recall@5: `{head}` as a retrieval task (each similar or paraphrase pair's first text "
        "queries for its second among all the set's texts, exact cosine; what `cardiolora evaluate-retrieval "
        f"-e {head}` measures); blank for evaluations made before the study measured them."
    ]
    out += ["", "## Efficiency", "", efficiency_table(rows)]
    out += retention_section(results)
    out += truncation_section(results)
    out += movers_section(results)
    if cells:
        out += ["", "## Ablation", "", ablation_table(cells)]
    out += ["", extra_stats, "", "## Figures", ""]
    for key, path in figures.items():
        out += [
            f"### {FIGURES[key]}",
            "",
            f"![{FIGURES[key]}]({path.relative_to(figures_root or results.study_dir).as_posix()})",
            "",
        ]
    out += [
        "Tiers (the study's): >= 0.45 high, 0.25-0.45 moderate, < 0.25 low; 0.3 is called clinically useful.",
        "Tables as CSV: `results.csv`.",
    ]
    return "\n".join(out) + "\n"


def movers_section(results: StudyResults) -> list[str]:
    """Per model, the headline pairs whose cosine the adapter raised most and lowered most."""
    head = results.headline_set
    lines = []
    for model in results.models:
        zero_shot, adapted = model.zero_shot.get(head), model.adapted.get(head)
        if not zero_shot or not adapted or "pair_cosines" not in zero_shot or "pair_cosines" not in adapted:
            continue
        movers = biggest_movers(zero_shot, adapted)
        table = [
            [direction, m["category"], m["sentence1"], m["sentence2"], m["zero_shot"], m["adapted"], m["change"]]
            for direction in ("up", "down")
            for m in movers[direction]
        ]
        lines += ["", f"### {model.name}", ""]
        headers = ["moved", "pair", "text 1", "text 2", "cosine zero-shot", "adapted", "change"]
        lines += [markdown_table(headers, table)]
    if not lines:
        return []
    intro = f"The `{head}` pairs whose cosine the adapter changed most, in each direction."
    return ["", "## Biggest movers", "", intro, *lines]


def markdown_to_html(markdown: str, base_dir: Path, title: str) -> str:
    """report.md as one HTML file with the figures inlined (base64), readable offline and mailable."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        data = base64.b64encode((base_dir / match.group(1)).read_bytes()).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
        "code{background:#f4f4f4;padding:0 3px}"
    )
    head = f"<meta charset='utf-8'><title>{title}</title><style>{style}</style>"
    return f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n{body}</body></html>\n"


REPORT_MARKER = "cardiolora-report.json"
REPORT_SCHEMA = "cardiolora.study-report/v1"


def is_report_directory(path: str | Path) -> bool:
    from cardiolora.io import read_json_object

    return read_json_object(Path(path) / REPORT_MARKER).get("schema") == REPORT_SCHEMA


def write_report(study_dir: str | Path, out: str | Path | None = None, *, overwrite: bool = False) -> dict[str, Path]:
    """Write results.csv, figures/*.png, report.md and report.html into ``study_dir``, or into a new
    directory ``out`` (the study is then only read). An existing ``out`` is replaced only with
    ``overwrite`` and only when it is a report this function wrote (its marker file says so)."""
    study_dir = Path(study_dir)
    results = load_results(study_dir)
    if out is None:
        return _write_report_files(results, study_dir)
    from cardiolora.directories import lock_directory, refuse_foreign_directory
    from cardiolora.errors import CardioloraError
    from cardiolora.io import atomic_directory, write_json_atomic

    out = Path(out)
    if overwrite:
        refuse_foreign_directory(out, is_report_directory, "cardiolora study report directory")
    elif out.exists():
        raise CardioloraError(f"{out} exists; choose a new --out, or pass --overwrite to replace a report")
    with lock_directory(out, what="report directory"), atomic_directory(out, replace=overwrite) as staging:
        written = _write_report_files(results, staging, out)
        write_json_atomic(staging / REPORT_MARKER, {"schema": REPORT_SCHEMA, "study": str(study_dir.resolve())})
    return {name: out / name for name in written}


def _write_report_files(results: StudyResults, target: Path, out_arg: Path | None = None) -> dict[str, Path]:
    rows = model_rows(results)
    cells = ablation_rows(results)
    write_csv(rows + cells, target / "results.csv")
    extra, facts = _statistics_section(results, rows)
    plt = pyplot()
    builders = {
        "separation": lambda: figure_separation(rows, plt, results.headline_set),
        "zero_shot_vs_adapted": lambda: figure_zero_shot_vs_adapted(rows, plt, results.headline_set),
        "pareto_throughput": lambda: figure_pareto(rows, plt, facts["front_speed"]),
        "memory_vs_parameters": lambda: figure_memory(rows, plt),
        "category_distributions": lambda: figure_categories(results, plt),
        "radar": lambda: figure_radar(rows, plt, results.transfer_sets),
        "ablation_heatmap": lambda: figure_ablation(cells, plt),
        "retention": lambda: figure_retention(results, plt),
        "embedding_map": lambda: figure_embedding_map(results, plt),
    }
    figures = {key: save_figure(build(), target / "figures" / f"{key}.png") for key, build in builders.items()}
    markdown = build_markdown(results, rows, cells, figures, extra, target, out_arg)
    write_text_atomic(target / "report.md", markdown)
    write_text_atomic(
        target / "report.html",
        markdown_to_html(markdown, target, f"Study report: {results.config['name']}"),
    )
    return {
        "report.md": target / "report.md",
        "report.html": target / "report.html",
        "results.csv": target / "results.csv",
        **{f"figures/{k}.png": v for k, v in figures.items()},
    }
