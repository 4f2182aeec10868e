"""The study report's retrieval columns, from evaluation files written by hand: a study run before
the evaluations held retrieval must still render, its cells blank rather than invented or "n/a"."""

from __future__ import annotations

import csv
import json

import numpy as np

from cardiolora.evaluation import compute_metrics, load_eval_set
from cardiolora.study.report import write_report


def _evaluations(seed: int, retrieval: dict | None) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for name in ("cardiology", "pulmonology"):
        eval_set = load_eval_set(name)
        evaluation = compute_metrics(eval_set, rng.uniform(-1, 1, len(eval_set.pairs)), n_resamples=100)
        if retrieval is not None and name == "cardiology":
            evaluation["retrieval"] = retrieval
        out.append(evaluation)
    return out


def _retrieval(mrr: float, recall5: float) -> dict:
    metrics = {"recall@1": 0.1, "recall@5": recall5, "recall@10": 0.7, "ndcg@1": 0.1, "ndcg@5": 0.3}
    return {"queries": 50, **metrics, "ndcg@10": 0.4, "mrr@10": mrr}


def _study(tmp_path):
    study_dir = tmp_path / "study"
    study_dir.mkdir()
    config = {
        "name": "synthetic",
        "seed": 0,
        "models": [{"name": "newer"}, {"name": "older"}],
        "evaluation": {"sets": ["cardiology"], "transfer": ["pulmonology"], "resamples": 100},
    }
    (study_dir / "study.json").write_text(json.dumps(config))
    described = {"family": "encoder", "parameters": 1000, "dimension": 8}
    files = {
        "newer": {"zero-shot.json": _retrieval(0.25, 0.375), "adapted.json": _retrieval(0.5, 0.625)},
        "older": {"zero-shot.json": None, "adapted.json": None},  # written before retrieval was measured
    }
    for seed, (model, by_file) in enumerate(files.items()):
        root = study_dir / "models" / model
        root.mkdir(parents=True)
        for offset, (name, retrieval) in enumerate(by_file.items()):
            document = {"model": described, "evaluations": _evaluations(2 * seed + offset, retrieval)}
            (root / name).write_text(json.dumps(document))
    return study_dir


def _table_rows(report: str, section: str) -> dict[str, list[str]]:
    lines = report.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    header = rows[0]
    return {"header": header, **{row[0]: row for row in rows[2:]}}


def test_retrieval_columns_are_filled_where_measured_and_blank_where_not(tmp_path):
    study_dir = _study(tmp_path)
    write_report(study_dir)
    report = (study_dir / "report.md").read_text()

    comparison = _table_rows(report, "Zero-shot vs adapted")
    columns = ["zero-shot MRR@10", "adapted MRR@10", "zero-shot Recall@5", "adapted Recall@5"]
    where = [comparison["header"].index(c) for c in columns]
    assert [comparison["newer"][i] for i in where] == ["0.250", "0.500", "0.375", "0.625"]
    assert [comparison["older"][i] for i in where] == ["", "", "", ""]
    # The older model's other columns are still there: the report did not give up on it.
    assert comparison["older"][comparison["header"].index("adapted ROC-AUC")] not in ("", "n/a")

    performance = _table_rows(report, "Performance")
    where = [performance["header"].index(c) for c in ("MRR@10", "Recall@5")]
    assert [performance["newer"][i] for i in where] == ["0.500", "0.625"]
    assert [performance["older"][i] for i in where] == ["", ""]

    with open(study_dir / "results.csv") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}
    assert rows["newer"]["mrr_at_10"] == "0.5" and rows["newer"]["zero_shot_recall_at_5"] == "0.375"
    assert rows["older"]["mrr_at_10"] == "" and rows["older"]["zero_shot_mrr_at_10"] == ""


def test_figures_stay_readable_with_one_model_and_with_a_wide_speed_range():
    from cardiolora.study.report_figures import figure_pareto, figure_radar, pyplot

    plt = pyplot()
    row = {"name": "m", "separation": 0.38, "auc": 0.84, "negation_accuracy": 0.96, "emb_per_s": 361.0,
           "memory_gb": 0.55, "pulmonology_retention": 0.5}  # fmt: skip
    single = figure_radar([row], plt, ["pulmonology"])
    assert single.axes[0].name != "polar"  # a radar of one model is a full circle: bars instead
    assert [t.get_text() for t in single.axes[0].get_yticklabels()][:2] == ["separation", "ROC-AUC"]
    rows = [{**row, "name": f"m{i}", "emb_per_s": speed} for i, speed in enumerate((12.0, 150.0, 2400.0))]
    fig = figure_pareto(rows, plt, front=["m0", "m2"])
    ax = fig.axes[0]
    fig.canvas.draw()
    assert ax.get_xscale() == "log"
    labels = [
        t for t in ax.get_xticklabels() if t.get_text() and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]
    ]
    assert 3 <= len(labels) <= 12  # 1, 2 and 5 per decade: no labels run into each other
    boxes = [t.get_window_extent() for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    inside = ax.get_window_extent()
    for text in ax.texts:  # point labels stay inside the axes
        box = text.get_window_extent()
        assert inside.x0 - 1 <= box.x0 and box.x1 <= inside.x1 + 1, text.get_text()
    plt.close("all")


def test_counts_are_written_as_counts_and_parameters_in_millions():
    from cardiolora.study.report_tables import fmt_value

    assert fmt_value(24_172) == "24,172"  # pairs: not "0.0M"
    assert fmt_value(22_713_216) == "22.7M"
    assert fmt_value(756) == "756" and fmt_value(None) == "n/a"


def test_truncation_section_shows_measured_models_only(tmp_path):
    study_dir = _study(tmp_path)
    root = study_dir / "models" / "newer"
    for name, aucs in (("zero-shot.json", (0.7, 0.65)), ("adapted.json", (0.8, 0.75))):
        document = json.loads((root / name).read_text())
        document["evaluations"][0]["truncation"] = [
            {"dims": 8, "separation": 0.2, "auc": aucs[0]},
            {"dims": 4, "separation": 0.1, "auc": aucs[1]},
        ]
        (root / name).write_text(json.dumps(document))
    write_report(study_dir)
    report = (study_dir / "report.md").read_text()
    section = report.split("## Fewer dimensions (Matryoshka-style truncation)\n", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("|")]
    assert rows[2:] == [
        ["newer", "8", "0.700", "0.800", "0.200", "0.200"],
        ["newer", "4", "0.650", "0.750", "0.100", "0.100"],
    ]  # "older" was evaluated before truncation was measured: no invented rows


def test_no_truncation_section_without_measurements(tmp_path):
    study_dir = _study(tmp_path)
    write_report(study_dir)
    assert "Fewer dimensions" not in (study_dir / "report.md").read_text()
