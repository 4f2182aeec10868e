"""The study's time estimate times the configured recipes on this machine, once per distinct recipe."""

from __future__ import annotations

import json

import pytest

from cardiolora.study import estimate as estimate_module
from cardiolora.study import load_study, plan_study


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDIOLORA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_every_pending_step_is_measured_once_per_distinct_recipe(tiny_study, cache, monkeypatch):
    path, study_dir = tiny_study()
    plan = plan_study(load_study(path), study_dir)
    timed = []
    from cardiolora.training import trainer

    real = trainer.time_recipe

    def spy(config, pairs, **kwargs):
        timed.append((config.model, config.loss.name, config.peft.r))
        return real(config, pairs, **kwargs)

    monkeypatch.setattr(trainer, "time_recipe", spy)
    monkeypatch.setattr(estimate_module, "machine_load", lambda: (0.0, 2))  # an idle machine
    result = estimate_module.estimate(plan, measure=True)
    # bert's recipe (the default loss), the ablation's infonce and triplet cells on bert (each once:
    # data_fraction does not change a step's time) and qwen2's recipe.
    assert len(timed) == len(set(timed)) == 4
    assert {loss for _, loss, _ in timed} == {"infonce+cosine", "infonce", "triplet"}
    assert [label for label, _ in result["steps"]] == [step.label for step in plan.pending]
    assert result["unknown_steps"] == 0 and all(seconds > 0 for _, seconds in result["steps"])
    pairs_file = load_study(path).data.pairs
    assert result["pairs"] == len(pairs_file.read_text().splitlines()) and result["pairs_measured"]
    rates = json.loads((cache / "rates.json").read_text())
    assert len(rates) == 4
    for rate in rates.values():
        assert rate["seconds_per_step"] > 0 and rate["emb_per_s"] > 0 and rate["load_seconds"] > 0

    # A second estimate reads the cache and measures nothing.
    monkeypatch.setattr(trainer, "time_recipe", lambda *a, **k: pytest.fail("measured again"))
    again = estimate_module.estimate(plan, measure=True)
    assert [label for label, _ in again["steps"]] == [label for label, _ in result["steps"]]


def test_without_measuring_nothing_is_guessed(tiny_study, cache):
    path, study_dir = tiny_study()
    result = estimate_module.estimate(plan_study(load_study(path), study_dir), measure=False)
    assert result["unknown_steps"] == len(result["steps"]) and result["total_seconds"] == 0


def test_a_dry_run_measures_nothing_and_says_how_to_measure(tiny_study, cache, monkeypatch):
    from typer.testing import CliRunner

    from cardiolora.cli import app
    from cardiolora.training import trainer

    path, study_dir = tiny_study()
    monkeypatch.setattr(trainer, "time_recipe", lambda *a, **k: pytest.fail("a dry run trained"))
    result = CliRunner().invoke(app, ["study", "run", str(path), "--out", str(study_dir), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "cardiolora study measure" in result.output and "unknown" in result.output
    assert not (cache / "rates.json").exists() and not study_dir.exists()
    # A stated speed estimates the training steps without measuring.
    stated = CliRunner().invoke(
        app, ["study", "run", str(path), "--out", str(study_dir), "--dry-run", "--seconds-per-step", "2"]
    )
    assert stated.exit_code == 0 and "estimated" in stated.output


def test_a_rate_taken_on_a_busy_machine_is_not_cached(tiny_study, cache, monkeypatch):
    path, study_dir = tiny_study(ablation=None)
    monkeypatch.setattr(estimate_module, "machine_load", lambda: (7.5, 2))
    result = estimate_module.estimate(plan_study(load_study(path), study_dir), measure=True)
    assert result["unknown_steps"] == 0  # the busy rate still gives an estimate
    assert any("busy" in note and "not cached" in note for note in result["notes"].values())
    rates = cache / "rates.json"
    assert not rates.exists() or json.loads(rates.read_text()) == {}


def test_a_recipe_this_machine_cannot_run_is_not_timed_and_says_why(tiny_study, cache, monkeypatch):
    """The paper preset's 8-bit weights need CUDA: the estimate leaves those steps unknown instead of
    ending in a traceback."""
    path, study_dir = tiny_study(training={"load_in_8bit": True, "max_steps": 2, "batch_size": 8}, ablation=None)
    monkeypatch.setattr(estimate_module, "machine_load", lambda: (0.0, 2))
    result = estimate_module.estimate(plan_study(load_study(path), study_dir), measure=True)
    assert result["unknown_steps"] > 0
    assert any("not timed here" in note and "CUDA" in note for note in result["notes"].values())
