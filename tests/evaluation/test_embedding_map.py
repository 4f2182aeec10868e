"""The embedding map: one PCA over base and adapted vectors, so both pictures share their axes."""

from __future__ import annotations

import numpy as np

from cardiolora.evaluation import load_eval_set
from cardiolora.evaluation.embedding_map import embedding_map, project, text_domains


def test_one_projection_for_both_keeps_a_shift_visible():
    rng = np.random.default_rng(0)
    before = rng.normal(size=(50, 16))
    after = before.copy()
    after[:, 0] += 5.0  # the adapter moved every text along one direction
    zero_shot, adapted, explained = project(before, after)
    assert zero_shot.shape == adapted.shape == (50, 2)
    assert explained[0] > explained[1] and sum(explained) <= 1.0
    # Fitted separately, each picture would be centred on its own mean and the shift would vanish.
    assert abs(adapted[:, 0].mean() - zero_shot[:, 0].mean()) > 4.0


def test_the_map_of_a_model_without_adapter_is_one_picture_twice(tiny_model_dir):
    from cardiolora.embedding import Embedder

    eval_set = load_eval_set("cardiology")
    data = embedding_map(Embedder.load(str(tiny_model_dir("bert"))), eval_set)
    assert data["texts"] == eval_set.sentences() and len(data["domains"]) == len(data["texts"])
    assert np.allclose(data["zero_shot"], data["adapted"], atol=1e-4) and max(data["moved"]) < 1e-3
    assert set(data["domains"]) == set(text_domains(eval_set).values())


def test_cardiolora_evaluate_with_an_adapter_writes_the_map_beside_the_results(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from cardiolora.cli import app
    from tests.embedding.test_embedder import _save_lora_adapter

    model_dir = tiny_model_dir("bert")
    adapter = _save_lora_adapter(model_dir, tmp_path / "adapter", seed=4)
    out = tmp_path / "results.json"
    args = ["evaluate", "--model", str(model_dir), "--adapter", str(adapter), "-e", "cardiology", "--n-resamples",
            "100", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figure = tmp_path / "results.embedding_map.png"
    assert out.exists() and figure.stat().st_size > 5000


def test_the_panels_are_titled_with_the_model_and_the_set_not_a_domain():
    """A regression: the domain loop once reused the model's name, so both panels were titled with
    the last domain ("congenital: adapted")."""
    from cardiolora.study.report_figures import plot_embedding_map, pyplot

    rng = np.random.default_rng(0)
    points = rng.normal(size=(6, 2)).round(3).tolist()
    data = {"eval_set": "cardiology", "texts": [f"text {i}" for i in range(6)],
            "domains": ["ischemic", "valvular", "congenital"] * 2, "zero_shot": points, "adapted": points,
            "explained_variance": [0.4, 0.2], "moved": [0.0] * 6}  # fmt: skip
    plt = pyplot()
    figure = plot_embedding_map("minilm", data, plt)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    plt.close(figure)
    assert titles == ["minilm on cardiology: zero-shot (base model)", "minilm on cardiology: adapted"]


def test_labels_of_nearby_points_do_not_overlap():
    from cardiolora.study.report_figures import plot_embedding_map, pyplot

    # Six texts crowded near one spot: their labels must still be laid out apart.
    rng = np.random.default_rng(1)
    points = (rng.normal(size=(40, 2)) * [1.0, 1.0]).round(3)
    points[:6] = rng.normal(size=(6, 2)) * 0.01
    texts = [f"crowded clinical finding number {i}" if i < 6 else f"t{i}" for i in range(40)]
    moved = [1.0] * 6 + [0.0] * 34
    data = {"eval_set": "cardiology", "texts": texts, "domains": ["ischemic"] * 40, "zero_shot": points.tolist(),
            "adapted": points.tolist(), "explained_variance": [0.4, 0.2], "moved": moved}  # fmt: skip
    plt = pyplot()
    figure = plot_embedding_map("minilm", data, plt)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes[:2]:
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == 6
        overlaps = [(i, j) for i in range(6) for j in range(i + 1, 6) if boxes[i].overlaps(boxes[j])]
        assert overlaps == [], overlaps
        inside = ax.get_window_extent(renderer)
        assert all(inside.x0 - 1 <= b.x0 and b.x1 <= inside.x1 + 1 for b in boxes)
    plt.close(figure)
