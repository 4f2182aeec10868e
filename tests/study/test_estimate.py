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
    result = estimate_module.estimate(plan)
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
    again = estimate_module.estimate(plan)
    assert [label for label, _ in again["steps"]] == [label for label, _ in result["steps"]]


def test_without_measuring_nothing_is_guessed(tiny_study, cache):
    path, study_dir = tiny_study()
    result = estimate_module.estimate(plan_study(load_study(path), study_dir), measure=False)
    assert result["unknown_steps"] == len(result["steps"]) and result["total_seconds"] == 0
