from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.errors import CardioloraError
from cardiolora.study import load_study, plan_study, run_study
from cardiolora.study.report import FIGURES

runner = CliRunner()


def _phases(config, study_dir, **kwargs):
    seen = []
    run_study(
        config,
        study_dir,
        on_step=lambda step, phase, seconds: seen.append((step.label, phase)),
        log=lambda *_: None,
        **kwargs,
    )
    return seen


def test_a_study_runs_every_step_and_reports_everything(tiny_study):
    path, study_dir = tiny_study()
    config = load_study(path)
    seen = _phases(config, study_dir)
    # 2 models x (zero-shot, train, adapted, bench) + 4 ablation cells x (train, adapted).
    assert [p for _, p in seen].count("finished") == 16
    for model_dir in (study_dir / "models").iterdir():
        for name in (
            "zero-shot.json",
            "adapted.json",
            "bench.json",
            "embedding_map.json",
            "train/metrics.json",
            "train/adapter/adapter_model.safetensors",
        ):
            assert (model_dir / name).exists(), name
        # The training run keeps the zero-shot step's evaluation: its metrics have zero-shot and retention.
        metrics = json.loads((model_dir / "train/metrics.json").read_text())
        assert metrics["zero_shot"]["cardiology"]["separation"] is not None
        assert [row["eval_set"] for row in metrics["retention"]] == ["pulmonology"]
        assert "zero_shot" in metrics["normalisation"]["cardiology"]
        # The adapted step reuses the training run's map of the same set instead of encoding again.
        assert (model_dir / "embedding_map.json").read_text() == (model_dir / "train/embedding_map.json").read_text()
    assert len(list((study_dir / "ablation").iterdir())) == 4
    for name in ("study.json", "versions.json", "report.md", "report.html", "results.csv"):
        assert (study_dir / name).exists(), name
    report = (study_dir / "report.md").read_text()
    for key, title in FIGURES.items():
        assert (study_dir / "figures" / f"{key}.png").stat().st_size > 5000, key
        assert title in report
    for section in (
        "## Biggest movers",
        "## Performance",
        "## Zero-shot vs adapted",
        "## Efficiency",
        "## Retention",
        "## Ablation",
        "Paired permutation tests",
        "Holm",
    ):
        assert section in report, section
    html = (study_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert not re.search(r'src="(?!data:)', html), "the HTML must not reference external files"
    with open(study_dir / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["kind"] for r in rows].count("model") == 2 and [r["kind"] for r in rows].count("ablation") == 4
    assert all(r["separation"] for r in rows)
    # Retrieval beside separation: the headline set as a retrieval task, zero-shot and adapted.
    for model_dir in (study_dir / "models").iterdir():
        for name in ("zero-shot.json", "adapted.json"):
            by_set = {e["eval_set"]["name"]: e for e in json.loads((model_dir / name).read_text())["evaluations"]}
            assert 0.0 <= by_set["cardiology"]["retrieval"]["mrr@10"] <= 1.0, name
            assert "retrieval" not in by_set["pulmonology"], "only the headline set is a retrieval task"
    assert all(r["mrr_at_10"] and r["recall_at_5"] for r in rows)
    assert all(r["zero_shot_mrr_at_10"] for r in rows if r["kind"] == "model")
    assert "adapted MRR@10" in report and "Recall@5" in report
    # Re-running does nothing but the report.
    again = _phases(config, study_dir)
    assert {p for _, p in again} == {"skipped"}
    _report_elsewhere(study_dir)


def _report_elsewhere(study_dir):
    """`report STUDY --out DIR`: a whole report in a new directory, the study only read; an existing
    DIR needs --overwrite, which replaces only a report cardiolora wrote."""
    own = (study_dir / "report.md").stat().st_mtime_ns
    out = study_dir.parent / "shared-report"
    result = runner.invoke(app, ["report", str(study_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (study_dir / "report.md").stat().st_mtime_ns == own
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert f"--out {out}" in (out / "report.md").read_text()
    assert all((out / "figures" / f"{key}.png").exists() for key in FIGURES)
    assert runner.invoke(app, ["report", str(study_dir), "--out", str(out)]).exit_code == 2
    assert runner.invoke(app, ["report", str(study_dir), "--out", str(out), "--overwrite"]).exit_code == 0
    foreign = study_dir.parent / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.md").write_text("mine")
    result = runner.invoke(app, ["report", str(study_dir), "--out", str(foreign), "--overwrite"])
    assert result.exit_code == 2 and (foreign / "chapter1.md").read_text() == "mine"


def test_only_runs_the_named_member_and_the_report_says_what_is_missing(tiny_study, tiny_model_dir):
    path, study_dir = tiny_study(ablation=None, bench={"enabled": False})
    config = load_study(path)
    bert = str(tiny_model_dir("bert"))
    seen = _phases(config, study_dir, only=[bert])
    assert all(label.startswith(bert) for label, _ in seen)
    assert "Not finished" in (study_dir / "report.md").read_text()
    with pytest.raises(CardioloraError, match="unknown study member"):
        plan_study(config, study_dir, only=["nobody"])


def test_changed_settings_are_refused_instead_of_mixed(tiny_study):
    path, study_dir = tiny_study(ablation=None, bench={"enabled": False})
    _phases(load_study(path), study_dir, only=[load_study(path).models[0].name])
    path2, _ = tiny_study(training={"max_steps": 3})
    with pytest.raises(CardioloraError, match="different training settings"):
        run_study(load_study(path2), study_dir, log=lambda *_: None)


def test_cuda_only_settings_fail_before_any_step(tiny_study):
    path, study_dir = tiny_study(training={"max_steps": 2, "batch_size": 8, "load_in_8bit": True})
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(CardioloraError, match="needs a CUDA GPU"):
        run_study(load_study(path), study_dir, log=lambda *_: None)
    assert not (study_dir / "models").exists()


def test_a_killed_study_resumes_without_redoing_finished_steps(tiny_study):
    path, study_dir = tiny_study(bench={"enabled": False}, ablation=None)
    command = [sys.executable, "-m", "cardiolora", "study", "run", str(path), "--out", str(study_dir)]
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 240
    first_done = None
    while time.monotonic() < deadline and process.poll() is None:
        done = sorted(study_dir.glob("models/*/adapted.json"))
        if done:
            first_done = done[0]
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert first_done is not None, "the first model never finished"
    stamp = first_done.stat().st_mtime_ns
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "finished earlier, skipped" in result.stdout
    assert first_done.stat().st_mtime_ns == stamp
    assert len(list(study_dir.glob("models/*/adapted.json"))) == 2
    assert (study_dir / "report.html").exists()


def test_report_command_and_bad_directory(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a study directory" in result.stderr
