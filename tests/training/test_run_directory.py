"""Issue 13, data loss: --overwrite replaces only a cardiolora run (or export), and only with a
complete new one; a failed run leaves the old one as it was; a run directory in use is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.errors import CardioloraError
from cardiolora.training import build_config, train
from cardiolora.training.export import EXPORT_MARKER
from cardiolora.training.run_directory import RUN_MARKER, is_run_directory
from tests.helpers import snapshot

runner = CliRunner()
QUIET = {"log": lambda *_: None}


def _train_args(tiny_model_dir, tiny_pairs, out, *extra):
    return ["train", "--model", str(tiny_model_dir("bert")), "--data", str(tiny_pairs), "--out", str(out),
            "--max-steps", "2", "--batch-size", "8", "--report-to", "none", "-e", "cardiology", *extra]  # fmt: skip


def _thesis(root):
    thesis = root / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "chapters" / "one.tex").write_text("years of work")
    (thesis / "config.json").write_text('{"model": "my own", "data": "not cardiolora"}')
    return thesis


@pytest.mark.parametrize("flags", [[], ["--resume"], ["--overwrite"]])
def test_a_directory_that_is_not_a_run_is_never_trained_into_or_replaced(tiny_model_dir, tiny_pairs, tmp_path, flags):
    thesis = _thesis(tmp_path)
    before = snapshot(tmp_path)
    result = runner.invoke(app, _train_args(tiny_model_dir, tiny_pairs, thesis, *flags))
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"{thesis} is not empty and is not a cardiolora run directory" in message
    assert snapshot(tmp_path) == before  # nothing written, deleted, or left beside it (no lock, no staging)


def test_resume_and_overwrite_together_are_refused(tiny_config):
    with pytest.raises(CardioloraError, match="give one of them"):
        train(tiny_config(), resume=True, overwrite=True, **QUIET)


def test_overwrite_keeps_the_old_run_until_the_new_one_is_complete(tiny_config, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformerTrainer

    config = tiny_config(max_steps=2, eval_sets=["cardiology"])
    train(config, **QUIET)
    run = config.out
    assert is_run_directory(run) and (run / RUN_MARKER).exists()
    before = snapshot(tmp_path)

    # The new run crashes while training: the old run is untouched, the staging directory is gone.
    def crash(self, *args, **kwargs):
        assert os.path.basename(self.args.output_dir) == "checkpoints"
        assert ".run.cardiolora-staging" in self.args.output_dir  # built beside the old run, not in it
        raise RuntimeError("out of memory")

    with monkeypatch.context() as patch:
        patch.setattr(SentenceTransformerTrainer, "train", crash)
        with pytest.raises(RuntimeError, match="out of memory"):
            train(config, overwrite=True, evaluate_zero_shot=False, **QUIET)
    assert snapshot(tmp_path) == before
    # Bad input found only once the model is loaded: the same.
    with pytest.raises(CardioloraError, match="peft.target_modules"):
        train(tiny_config(max_steps=2, eval_sets=["cardiology"], peft={"target_modules": ["bogus"]}), overwrite=True,
              evaluate_zero_shot=False, **QUIET)  # fmt: skip
    assert snapshot(tmp_path) == before

    result = train(tiny_config(max_steps=3, eval_sets=["cardiology"]), overwrite=True, **QUIET)
    assert result.run_dir == run and json.loads((run / "metrics.json").read_text())["training"]["global_step"] == 3
    assert json.loads((run / "config.json").read_text())["out"] == str(run)
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging, old copy or lock left beside


def test_an_empty_or_crashed_run_may_be_overwritten(tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    # What an option combination that crashed after the start left: config.json and versions.json.
    (run / "config.json").write_text(json.dumps(tiny_config().resolved()))
    (run / "versions.json").write_text("{}")
    assert is_run_directory(run)
    train(tiny_config(max_steps=2, eval_sets=["cardiology"]), overwrite=True, evaluate_zero_shot=False, **QUIET)
    assert (run / "metrics.json").exists()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from cardiolora.directories import lock_directory

    with lock_directory(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(600)
    """
)


@pytest.mark.parametrize("flag", ["--resume", "--overwrite"])
def test_a_run_directory_in_use_is_refused_naming_the_holder(tiny_model_dir, tiny_pairs, tmp_path, flag):
    run = tmp_path / "run"
    run.mkdir()
    (run / RUN_MARKER).write_text('{"schema": "cardiolora.run/v1"}')  # an unfinished run
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(tmp_path)
        result = runner.invoke(app, _train_args(tiny_model_dir, tiny_pairs, run, flag))
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1
        assert f"run directory {run} is in use by another cardiolora process (pid {holder.pid}" in result.stderr
        assert snapshot(tmp_path) == before
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


# ------------------------------------------------------------------------------------------- export


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir, tiny_pairs, tmp_path_factory):
    config = build_config({
        "model": str(tiny_model_dir("bert")), "data": str(tiny_pairs),
        "out": str(tmp_path_factory.mktemp("export") / "run"),
        "max_steps": 2, "batch_size": 8, "report_to": [], "eval_resamples": 100, "eval_sets": ["cardiology"],
    })  # fmt: skip
    return train(config, evaluate_zero_shot=False, **QUIET).run_dir


def test_export_replaces_only_an_export_and_only_when_complete(finished_run, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "merged"
    first = runner.invoke(app, ["export", str(finished_run), "--merge", "--out", str(out)])
    assert first.exit_code == 0, first.output
    marker = json.loads((out / EXPORT_MARKER).read_text())
    assert marker["schema"] == "cardiolora.export/v1" and marker["adapter_scale"] == 1.0
    before = snapshot(tmp_path)

    again = runner.invoke(app, ["export", str(finished_run), "--merge", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert snapshot(tmp_path) == before

    def crash(self, *args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(SentenceTransformer, "save", crash)
        failed = runner.invoke(app, ["export", str(finished_run), "--merge", "--out", str(out), "--overwrite"])
    assert isinstance(failed.exception, OSError)
    assert snapshot(tmp_path) == before  # the old export as it was, no staging directory beside it

    replaced = runner.invoke(app, ["export", str(finished_run), "--merge", "--out", str(out), "--overwrite",
                                   "--adapter-scale", "0.5"])  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / EXPORT_MARKER).read_text())["adapter_scale"] == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged"]
    assert SentenceTransformer(str(out), device="cpu").encode(["mitral stenosis"]).shape[0] == 1


def test_export_never_replaces_a_directory_that_is_not_an_export(finished_run, tmp_path):
    thesis = _thesis(tmp_path)
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["export", str(finished_run), "--merge", "--out", str(thesis), "--overwrite"])
    assert result.exit_code == 2, result.output
    assert f"{thesis} is not empty and is not a cardiolora export directory" in result.stderr
    assert snapshot(tmp_path) == before
