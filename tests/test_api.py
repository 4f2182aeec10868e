from __future__ import annotations

import numpy as np

import cardiolora


def test_the_front_door_trains_embeds_and_evaluates(tiny_model_dir, tiny_pairs, tmp_path):
    model = str(tiny_model_dir("bert"))
    run = cardiolora.train(model=model, data=tiny_pairs, out=tmp_path / "run", max_steps=2, batch_size=8,
                           report_to=[], eval_resamples=100, eval_sets=["cardiology", "pulmonology"])  # fmt: skip
    assert isinstance(run, cardiolora.TrainResult) and (run.adapter_dir / "adapter_config.json").exists()
    # A run directory stands for its adapter everywhere an adapter is taken.
    by_run = cardiolora.Embedder.load(model, adapter=run.run_dir)
    by_adapter = cardiolora.Embedder.load(model, adapter=run.adapter_dir)
    assert by_run.adapter == run.adapter_dir
    texts = ["mitral valve stenosis", "pericardial effusion"]
    np.testing.assert_allclose(by_run.encode(texts), by_adapter.encode(texts), atol=1e-6)
    report = cardiolora.evaluate(model, adapter=run.run_dir, eval_sets=["cardiology", "pulmonology"], n_resamples=100)
    assert isinstance(report, cardiolora.EvaluationReport)
    assert [e["eval_set"]["name"] for e in report.evaluations] == ["cardiology", "pulmonology"]
    assert [row.eval_set for row in report.retention()] == ["pulmonology"]


def test_a_config_object_and_keyword_overrides(tiny_config):
    config = tiny_config(max_steps=1)
    run = cardiolora.train(config, max_steps=2)
    assert run.metrics["training"]["global_step"] == 2


def test_import_stays_light():
    import subprocess
    import sys

    code = "import sys, cardiolora; print(any(m.startswith(('torch', 'transformers')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
