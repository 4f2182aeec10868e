from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.errors import CardioloraError
from cardiolora.study import PRESETS, load_preset, load_study
from cardiolora.study.config import ablation_cells
from tests.helpers import assert_clean_failure

runner = CliRunner()


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_are_valid(preset):
    config = load_preset(preset)
    assert config.models and config.ablation is not None


def test_paper_preset_lists_the_study_ten():
    config = load_preset("paper")
    assert len(config.models) == 10
    assert {"michiyasunaga/BioLinkBERT-large", "Qwen/Qwen3-Embedding-4B", "jinaai/jina-embeddings-v2-base-en"} <= {
        m.name for m in config.models
    }


def test_ablation_grid_is_cartesian_and_rank_sets_alpha(tiny_study):
    path, _ = tiny_study(
        ablation={"model": "minilm", "data_fraction": [0.25, 1.0], "rank": [8, 32], "loss": ["infonce", "triplet"]}
    )
    cells = ablation_cells(load_study(path).ablation)
    assert len(cells) == 8
    names = [n for n, _ in cells]
    assert len(set(names)) == 8 and "data-fraction-0.25_rank-8_loss-infonce" in names
    overrides = dict(cells)["data-fraction-1.0_rank-32_loss-triplet"]
    assert overrides == {"data_fraction": 1.0, "peft": {"r": 32, "alpha": 64}, "loss": {"name": "triplet"}}


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"colour": "blue"}, "colour: unknown key"),
        ({"models": None}, "models: Field required"),
        ({"evaluation": {"sets": ["cardiology"], "folds": 3}}, "evaluation.folds: unknown key"),
        ({"models": [{"name": "minilmm"}]}, "did you mean 'minilm'"),
        ({"ablation": {"model": "minilm", "rank": []}}, "empty list"),
        ({"ablation": {"model": "minilm", "rank": [0, 8]}}, "peft.r"),
        ({"ablation": {"model": "minilm", "data_fraction": [1.5]}}, "data_fraction"),
        ({"ablation": {"model": "minilm", "loss": ["hinge"]}}, "loss.name"),
        ({"training": {"learning_rate": -1.0}}, "learning_rate"),
        ({"training": {"out": "x"}}, "set by the study itself"),
        ({"evaluation": {"sets": ["cardiologyy"]}}, "cardiologyy"),
    ],
)
def test_bad_configs_fail_before_any_work(tiny_study, override, fragment):
    path, study_dir = tiny_study(**override)
    with pytest.raises(CardioloraError, match=None) as error:
        load_study(path)
    assert fragment in str(error.value)
    result = runner.invoke(app, ["study", "run", str(path), "--out", str(study_dir)])
    assert_clean_failure(result, study_dir, fragments=[fragment])


def test_paper_dry_run_lists_the_ten_models_and_their_availability():
    result = runner.invoke(app, ["study", "run", "--preset", "paper", "--dry-run"], terminal_width=250)
    assert result.exit_code == 0, result.output
    for name in ("BioLinkBERT-large", "bge-m3", "bge-large-en-v1.5", "bge-small-en-v1.5", "all-mpnet-base-v2",
                 "e5-large-v2", "jina-embeddings-v2-base-en", "gemma-2-2b", "Qwen2.5-0.5B",
                 "Qwen3-Embedding-4B"):  # fmt: skip
        assert name in result.output
    assert "available" in result.output and "estimated" in result.output
