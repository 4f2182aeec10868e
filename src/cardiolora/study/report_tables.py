"""The tables of a study report: one row per model and per ablation cell (also results.csv),
the retention section, and Markdown table rendering."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cardiolora.evaluation.retention import (
    DEFAULT_TOLERANCE,
    RetentionRow,
    retention_table,
    retention_warnings,
)
from cardiolora.io import atomic_path
from cardiolora.study import stats
from cardiolora.study.results import StudyResults, retrieval_metric


def fmt_value(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.{digits}f}"
    if isinstance(value, int) and abs(value) >= 1_000_000:  # parameter counts
        return f"{value / 1e6:.1f}M"
    if isinstance(value, int) and abs(value) >= 10_000:  # pairs, steps: "24,172", not "0.0M"
        return f"{value:,}"
    return str(value)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt_value(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# Retrieval metrics of the headline set as a retrieval task, by results.csv column.
RETRIEVAL_COLUMNS = {"mrr_at_10": "mrr@10", "recall_at_5": "recall@5"}


def blank(value: Any) -> Any:
    """A value for a table cell where an older study may lack it: "" (blank, not "n/a": the metric
    was not measured then, rather than undefined)."""
    return "" if value is None else value


def _retrieval_columns(evaluation: dict[str, Any] | None, prefix: str = "") -> dict[str, float | None]:
    return {f"{prefix}{column}": retrieval_metric(evaluation, metric) for column, metric in RETRIEVAL_COLUMNS.items()}


def model_rows(results: StudyResults) -> list[dict[str, Any]]:
    """One row per model of the study: its headline-set metrics adapted and zero-shot, benchmark,
    training, and per transfer set separation, retention and ROC-AUC (the results.csv columns)."""
    head = results.headline_set
    rows = []
    for m in results.models:
        adapted = m.adapted.get(head) or {}
        zero_shot = m.zero_shot.get(head) or {}
        similar, different = m.category_means(head)
        ci = adapted.get("separation_ci") or [None, None]
        bench = m.bench or {}
        row = {
            "kind": "model",
            "name": m.name,
            "family": m.family,
            "parameters": m.parameters,
            "dimension": m.dimension,
            "similar_mean": similar,
            "different_mean": different,
            "separation": adapted.get("separation"),
            "ci_low": ci[0],
            "ci_high": ci[1],
            "tier": adapted.get("tier"),
            "zero_shot_separation": m.separation(head, adapted=False),
            "auc": adapted.get("auc"),
            "zero_shot_auc": zero_shot.get("auc"),
            "negation_accuracy": adapted.get("negation_accuracy"),
            "zero_shot_negation_accuracy": zero_shot.get("negation_accuracy"),
            **_retrieval_columns(adapted),
            **_retrieval_columns(zero_shot, "zero_shot_"),
            "emb_per_s": m.emb_per_s,
            "served_emb_per_s": m.served_emb_per_s,
            "memory_gb": m.memory_gb,
            "latency_p50_ms": bench["latency"]["p50_ms"] if bench else None,
            "latency_p95_ms": bench["latency"]["p95_ms"] if bench else None,
            "emb_per_s_per_gb": bench["emb_per_s_per_gb"] if bench else None,
            "share_of_matmul_peak": bench["compute"]["share_of_peak"] if bench else None,
            "train_seconds": (m.training or {}).get("seconds"),
            "train_pairs": (m.training or {}).get("pairs"),
        }
        both = row["separation"] is not None and row["zero_shot_separation"] is not None
        row["gain"] = row["separation"] - row["zero_shot_separation"] if both else None
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
            lines.append(
                [
                    model.name,
                    row.eval_set,
                    row.separation_zero_shot,
                    row.separation_adapted,
                    row.separation_change,
                    row.auc_zero_shot,
                    row.auc_adapted,
                    row.auc_change,
                    "**harmed**" if row.harmed else "kept",
                ]
            )
        warnings += [f"- **{model.name}**, {w}" for w in retention_warnings(model_retention(results, model))]
    if not lines:
        return []
    out = [
        "",
        "## Retention: the other specialties and general English",
        "",
        f"Each set the adapter is not for, base model (zero-shot) against adapted; a fall of more than "
        f"{DEFAULT_TOLERANCE} in separation or ROC-AUC, with its paired 95% CI below zero, is harm.",
        "",
        markdown_table(
            [
                "model",
                "eval set",
                "separation zero-shot",
                "adapted",
                "change",
                "ROC-AUC zero-shot",
                "adapted",
                "change",
                "",
            ],
            lines,
        ),
    ]
    out += (
        ["", "**Warning: the adapter is worse than the base model on:**", "", *warnings]
        if warnings
        else ["", "No set fell by more than the tolerance."]
    )
    return out


def truncation_section(results: StudyResults) -> list[str]:
    """The headline set at fewer dimensions (each vector's first N, renormalised), zero-shot and
    adapted, for every model whose evaluations measured it."""
    head = results.headline_set
    lines = []
    for model in results.models:
        before = {r["dims"]: r for r in (model.zero_shot.get(head) or {}).get("truncation") or []}
        after = {r["dims"]: r for r in (model.adapted.get(head) or {}).get("truncation") or []}
        for dims in sorted(set(before) | set(after), reverse=True):
            b, a = before.get(dims, {}), after.get(dims, {})
            lines.append([model.name, dims, b.get("auc"), a.get("auc"), b.get("separation"), a.get("separation")])
    if not lines:
        return []
    return [
        "",
        "## Fewer dimensions (Matryoshka-style truncation)",
        "",
        f"`{head}` with each vector cut to its first N dimensions and renormalised, as `cardiolora evaluate "
        "--dims N` and the server's `dimensions` field do; the first row of a model is its full vector. "
        "The models were not trained for truncation (no Matryoshka loss).",
        "",
        markdown_table(
            ["model", "dimensions", "ROC-AUC zero-shot", "adapted", "separation zero-shot", "adapted"], lines
        ),
    ]


def ablation_rows(results: StudyResults) -> list[dict[str, Any]]:
    head = results.headline_set
    ablated = (results.config.get("ablation") or {}).get("model")
    base = next((m.zero_shot for m in results.models if m.name == ablated), {})
    rows = []
    for cell in results.ablation:
        adapted = cell.adapted.get(head) or {}
        row = {
            "kind": "ablation",
            "name": cell.name,
            **cell.axes,
            "separation": adapted.get("separation"),
            "auc": adapted.get("auc"),
            "negation_accuracy": adapted.get("negation_accuracy"),
            **_retrieval_columns(adapted),
            "train_seconds": (cell.training or {}).get("seconds"),
        }
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


# A column of a report table: its header, and the row key (or a function of the row) it shows.
Column = tuple[str, str | Callable[[dict[str, Any]], Any]]


def render_columns(columns: list[Column], rows: list[dict[str, Any]]) -> str:
    """A Markdown table with one line per row and the given columns."""
    cells = [[get(row) if callable(get) else row[get] for _, get in columns] for row in rows]
    return markdown_table([header for header, _ in columns], cells)


def _blank_column(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: blank(row.get(key))


def _ci(row: dict[str, Any]) -> str:
    return f"[{fmt_value(row['ci_low'])}, {fmt_value(row['ci_high'])}]"


PERFORMANCE: list[Column] = [
    ("model", "name"),
    ("family", "family"),
    ("params", "parameters"),
    ("dim", "dimension"),
    ("sim(similar)", "similar_mean"),
    ("sim(different)", "different_mean"),
    ("separation", "separation"),
    ("95% CI", _ci),
    ("tier", "tier"),
    ("ROC-AUC", "auc"),
    ("negation acc.", "negation_accuracy"),
    ("MRR@10", _blank_column("mrr_at_10")),
    ("Recall@5", _blank_column("recall_at_5")),
]
COMPARISON: list[Column] = [
    ("model", "name"),
    ("zero-shot separation", "zero_shot_separation"),
    ("adapted", "separation"),
    ("gain", "gain"),
    ("zero-shot ROC-AUC", "zero_shot_auc"),
    ("adapted ROC-AUC", "auc"),
    ("zero-shot negation acc.", "zero_shot_negation_accuracy"),
    ("adapted negation acc.", "negation_accuracy"),
    ("zero-shot MRR@10", _blank_column("zero_shot_mrr_at_10")),
    ("adapted MRR@10", _blank_column("mrr_at_10")),
    ("zero-shot Recall@5", _blank_column("zero_shot_recall_at_5")),
    ("adapted Recall@5", _blank_column("recall_at_5")),
    ("training (s)", "train_seconds"),
]
EFFICIENCY: list[Column] = [
    ("model", "name"),
    ("emb/s (best batch, adapter unmerged)", "emb_per_s"),
    ("emb/s as served (merged)", _blank_column("served_emb_per_s")),
    ("latency p50 (ms)", "latency_p50_ms"),
    ("latency p95 (ms)", "latency_p95_ms"),
    ("memory (GB)", "memory_gb"),
    ("emb/s per GB", "emb_per_s_per_gb"),
    ("share of matmul peak", "share_of_matmul_peak"),
]
ABLATION: list[Column] = [
    ("cell", "name"),
    ("data fraction", lambda c: f"{c['data_fraction']:g}"),
    ("rank", "rank"),
    ("loss", "loss"),
    ("PEFT", "peft"),
    ("separation", "separation"),
    ("ROC-AUC", "auc"),
    ("negation acc.", "negation_accuracy"),
    ("MRR@10", _blank_column("mrr_at_10")),
    ("other sets: mean ROC-AUC change", "retention_auc_change_mean"),
    ("harmed sets", lambda c: len(c["harmed_sets"].split(";")) if c["harmed_sets"] else 0),
    ("training (s)", "train_seconds"),
]


def performance_table(rows: list[dict[str, Any]]) -> str:
    return render_columns(PERFORMANCE, rows)


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """Zero-shot against adapted on the headline set; retrieval blank where it was not measured."""
    return render_columns(COMPARISON, rows)


def efficiency_table(rows: list[dict[str, Any]]) -> str:
    return render_columns(EFFICIENCY, rows)


def ablation_table(cells: list[dict[str, Any]]) -> str:
    return render_columns(ABLATION, cells)
