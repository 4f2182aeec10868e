"""``cardiolora report RUN RUN --out DIR``: training runs compared without a study."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from tests.helpers import assert_clean_failure

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tiny_model_dir, tiny_pairs, tmp_path_factory):
    from cardiolora.training import build_config, train

    root = tmp_path_factory.mktemp("runs")
    runs = []
    for name, loss in (("infonce", "infonce"), ("triplet", "triplet")):
        config = build_config({
            "model": str(tiny_model_dir("bert")), "data": str(tiny_pairs), "out": str(root / name),
            "max_steps": 2, "batch_size": 8, "report_to": [], "eval_resamples": 100,
            "eval_sets": ["cardiology", "pulmonology", "nephrology"], "loss": {"name": loss},
        })  # fmt: skip
        runs.append(train(config, log=lambda *_: None).run_dir)
    return runs


def _files(directory):
    return sorted(p.relative_to(directory) for p in directory.rglob("*"))


def test_two_runs_side_by_side(two_runs, tmp_path):
    before = [_files(run) for run in two_runs]
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["report", *map(str, two_runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "| infonce |" in report and "| triplet |" in report and "nephrology" in report
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["run"] for row in rows] == ["infonce", "triplet"]
    assert {row["loss"] for row in rows} == {"infonce", "triplet"} and all(
        row["target"] == "cardiology" for row in rows
    )
    assert "## Embedding maps" in report and "figures/embedding_map-2.png" in report
    for figure in ("separation_by_set", "auc_change", "embedding_map-1", "embedding_map-2"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 5000
    assert [_files(run) for run in two_runs] == before  # the runs are read, never written

    again = runner.invoke(app, ["report", *map(str, two_runs), "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    replaced = runner.invoke(app, ["report", str(two_runs[0]), "--out", str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    with open(out / "results.csv") as handle:
        assert [row["run"] for row in csv.DictReader(handle)] == ["infonce"]


def test_a_comparison_never_replaces_another_directory_or_reads_a_non_run(two_runs, tmp_path):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.md").write_text("mine")
    result = runner.invoke(app, ["report", *map(str, two_runs), "--out", str(foreign), "--overwrite"])
    assert result.exit_code != 0 and (foreign / "chapter1.md").read_text() == "mine"
    not_a_run = tmp_path / "notes"
    not_a_run.mkdir()
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["report", str(two_runs[0]), str(not_a_run), "--out", str(out)])
    assert_clean_failure(result, out, fragments=["is not a training run directory"])
    result = runner.invoke(app, ["report", *map(str, two_runs)])
    assert result.exit_code != 0 and "--out" in result.output
