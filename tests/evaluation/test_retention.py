from __future__ import annotations

import pytest

from cardiolora.evaluation import RetentionRow, retention_table, retention_warnings


def _evaluation(name, separation, auc):
    return {"eval_set": {"name": name}, "separation": separation, "auc": auc}


def test_the_table_compares_every_non_target_set():
    zero_shot = [_evaluation("cardiology", 0.15, 0.71), _evaluation("nephrology", 0.12, 0.69),
                 _evaluation("neurology", 0.30, 0.95), _evaluation("rheumatology", 0.25, 0.90)]  # fmt: skip
    adapted = [_evaluation("cardiology", 0.37, 0.83), _evaluation("nephrology", 0.07, 0.62),
               _evaluation("neurology", 0.295, 0.951), _evaluation("rheumatology", 0.30, 0.92),
               _evaluation("unseen", 0.2, 0.8)]  # fmt: skip
    rows = retention_table(zero_shot, adapted, target="cardiology")
    assert [r.eval_set for r in rows] == ["nephrology", "neurology", "rheumatology"]  # no target, no unpaired set
    nephrology, neurology, rheumatology = rows
    assert nephrology.separation_change == pytest.approx(-0.05) and nephrology.auc_change == pytest.approx(-0.07)
    assert nephrology.harmed and not rheumatology.harmed
    assert not neurology.harmed  # -0.005 is inside the 0.02 tolerance
    assert retention_table(zero_shot, adapted, target="cardiology", tolerance=0.001)[1].harmed
    warnings = retention_warnings(rows)
    assert len(warnings) == 1 and warnings[0].startswith("nephrology:")
    assert "separation 0.120 -> 0.070 (-0.050)" in warnings[0] and "ROC-AUC 0.690 -> 0.620 (-0.070)" in warnings[0]


def test_a_fall_in_auc_alone_is_harm_and_missing_values_are_not():
    row = RetentionRow("pulmonology", 0.15, 0.20, 0.725, 0.70)
    assert row.harmed and "ROC-AUC" in retention_warnings([row])[0] and "separation" not in retention_warnings([row])[0]
    assert not RetentionRow("x", None, 0.1, None, 0.5).harmed
    as_dict = RetentionRow("x", 0.1, 0.2, 0.5, 0.6).to_dict()
    assert as_dict["separation_change"] == pytest.approx(0.1) and as_dict["harmed"] is False


def test_a_fall_whose_paired_ci_reaches_zero_is_not_harm():
    import numpy as np

    rng = np.random.default_rng(0)
    categories = ["similar"] * 40 + ["different"] * 40
    before = np.r_[rng.normal(0.6, 0.15, 40), rng.normal(0.4, 0.15, 40)]
    noisy = before + rng.normal(0, 0.08, 80)  # no systematic change: the CI straddles zero
    lowered = before - np.r_[np.full(40, 0.1), np.zeros(40)]  # every similar pair 0.1 lower

    def evaluation(cosines):
        similar, different = cosines[:40], cosines[40:]
        auc = float((similar[:, None] > different[None, :]).mean())
        return {"separation": similar.mean() - different.mean(), "auc": auc, "pair_cosines": list(cosines),
                "pair_categories": categories}  # fmt: skip

    zero_shot = {"cardiology": evaluation(before), "a": evaluation(before), "b": evaluation(before)}
    adapted = {"cardiology": evaluation(before), "a": evaluation(noisy), "b": evaluation(lowered)}
    noise, harm = retention_table(zero_shot, adapted, target="cardiology")
    assert noise.separation_change_ci[0] < 0 < noise.separation_change_ci[1] and not noise.harmed
    assert harm.separation_change == pytest.approx(-0.1) and harm.separation_change_ci[1] < 0 and harm.harmed
    assert "95% CI" in retention_warnings([harm])[0]
    # The CIs survive a round trip through metrics.json.
    assert RetentionRow.from_dict(harm.to_dict()) == harm


def test_run_summaries_work_as_well_as_results_lists():
    zero_shot = {"cardiology": {"separation": 0.1, "auc": 0.7}, "pulmonology": {"separation": 0.2, "auc": 0.7}}
    final = {"cardiology": {"separation": 0.3, "auc": 0.8}, "pulmonology": {"separation": 0.1, "auc": 0.7}}
    (row,) = retention_table(zero_shot, final, target="cardiology")
    assert row.eval_set == "pulmonology" and row.harmed


def test_evaluate_with_an_adapter_reports_retention(tiny_model_dir, tmp_path):
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import evaluate_embedder, load_eval_set
    from tests.embedding.test_embedder import _save_lora_adapter

    model_dir = tiny_model_dir("bert")
    adapter = _save_lora_adapter(model_dir, tmp_path / "adapter", seed=4)
    embedder = Embedder.load(str(model_dir), adapter=adapter)
    sets = [load_eval_set(name) for name in ("cardiology", "pulmonology", "general-english")]
    report = evaluate_embedder(embedder, sets, n_resamples=100, zero_shot=True, target="cardiology")
    base = evaluate_embedder(Embedder.load(str(model_dir)), sets, n_resamples=100)
    result = report.to_dict()
    assert [r["eval_set"] for r in result["retention"]] == ["pulmonology", "general-english"]
    # The zero-shot half is the base model's own evaluation, the adapted half differs from it.
    assert [e["separation"] for e in result["zero_shot"]] == pytest.approx([e["separation"] for e in base.evaluations])
    assert result["retention"][0]["separation_zero_shot"] == pytest.approx(base.evaluations[1]["separation"])
    assert result["retention"][0]["separation_adapted"] != pytest.approx(base.evaluations[1]["separation"])
    # Without an adapter there is nothing to compare.
    assert "retention" not in base.to_dict()


def test_the_cli_prints_the_table_and_a_warning_per_harmed_set(monkeypatch):
    from rich.console import Console

    from cardiolora.cli import main

    recorder = Console(record=True, width=200)
    monkeypatch.setattr(main, "console", recorder)
    main.print_retention(
        [RetentionRow("pulmonology", 0.15, 0.20, 0.725, 0.70), RetentionRow("neurology", 0.1, 0.1, 0.7, 0.7)]
    )
    text = recorder.export_text()
    assert "retention" in text and "pulmonology (harmed)" in text and "neurology" in text
    assert text.count("warning") == 1 and "ROC-AUC 0.725 -> 0.700 (-0.025)" in text
    recorder = Console(record=True, width=200)
    monkeypatch.setattr(main, "console", recorder)
    main.print_retention([RetentionRow("neurology", 0.1, 0.1, 0.7, 0.7)])
    assert "no set harmed: none fell by more than 0.02" in recorder.export_text()


def test_a_training_run_records_retention_and_warns(tiny_config, caplog):
    import logging

    from cardiolora.training import train

    config = tiny_config(eval_sets=["cardiology", "pulmonology", "nephrology"], max_steps=4, learning_rate=5e-2)
    with caplog.at_level(logging.WARNING, logger="cardiolora.training.trainer"):
        result = train(config, log=lambda *_: None)
    rows = result.metrics["retention"]
    assert [r["eval_set"] for r in rows] == ["pulmonology", "nephrology"]
    for row in rows:
        assert row["separation_zero_shot"] == result.metrics["zero_shot"][row["eval_set"]]["separation"]
        assert row["separation_adapted"] == result.metrics["final"][row["eval_set"]]["separation"]
    harmed = [r["eval_set"] for r in rows if r["harmed"]]
    assert [name for name in harmed if any(name in m for m in caplog.messages)] == harmed
    card = (result.run_dir / "README.md").read_text()
    assert "Retention on the other evaluation sets" in card and "pulmonology" in card


def test_harm_judged_over_runs_averages_the_change_and_its_ci():
    import numpy as np

    from cardiolora.evaluation.retention import retention_over_runs

    rng = np.random.default_rng(3)
    categories = ["similar"] * 40 + ["different"] * 40
    before = np.r_[rng.normal(0.6, 0.15, 40), rng.normal(0.4, 0.15, 40)]

    def evaluation(name, cosines):
        return {"eval_set": {"name": name}, "pair_cosines": list(cosines), "pair_categories": categories}

    zero_shot = [evaluation("cardiology", before), evaluation("pulmonology", before)]
    # Three seeds: each lowers pulmonology's similar pairs by 0.05 plus noise; cardiology improves.
    runs = [
        [evaluation("cardiology", before + np.r_[np.full(40, 0.1), np.zeros(40)] + rng.normal(0, 0.02, 80)),
         evaluation("pulmonology", before - np.r_[np.full(40, 0.05), np.zeros(40)] + rng.normal(0, 0.02, 80))]
        for _ in range(3)
    ]  # fmt: skip
    rows = {r.eval_set: r for r in retention_over_runs(zero_shot, runs, target="cardiology", include_target=True)}
    assert (
        rows["cardiology"].runs == 3 and rows["cardiology"].separation_change > 0.08 and not rows["cardiology"].harmed
    )
    pulmonology = rows["pulmonology"]
    assert pulmonology.separation_change == pytest.approx(-0.05, abs=0.01)
    assert pulmonology.separation_change_ci[1] < 0 and pulmonology.harmed
    assert list(retention_over_runs(zero_shot, runs, target="cardiology")) == [pulmonology]  # the target left out
