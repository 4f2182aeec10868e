"""Progress a person can read: step, loss and time left while training, a summary at the end."""

from __future__ import annotations

from types import SimpleNamespace

from cardiolora.training.progress import TrainingProgress, duration


def test_duration_reads_like_a_person_says_it():
    assert duration(52.4) == "52 s"
    assert duration(831) == "13 min 51 s"
    assert duration(3840) == "1 h 04 min"


def test_lines_every_five_percent_with_loss_and_time_left_then_a_summary():
    lines: list[str] = []
    progress = TrainingProgress(lines.append)  # no console: lines, as in a log file
    state = SimpleNamespace(global_step=0, max_steps=40)
    progress.on_train_begin(None, state, None)
    for step in range(1, 41):
        state.global_step = step
        if step % 10 == 0:
            progress.on_log(None, state, None, logs={"loss": f"{4 - step / 20:.3f}", "grad_norm": "1.2"})
        progress.on_step_end(None, state, None)
    progress.on_train_end(None, state, None)
    steps = [line for line in lines if line.startswith("step ")]
    # No loss before the first logged one (no dash standing in for it).
    assert len(steps) == 20 and steps[0].startswith("step 2/40 (5%), ") and "loss" not in steps[0]
    assert "about" in steps[0] and "left" in steps[0]
    assert steps[-1].startswith("step 40/40 (100%), loss 2.000") and "left" not in steps[-1]
    assert lines[-1].startswith("trained 40 steps in ") and "last logged loss 2.000" in lines[-1]


def test_a_resumed_run_counts_from_its_checkpoint():
    lines: list[str] = []
    progress = TrainingProgress(lines.append, lines=2)
    state = SimpleNamespace(global_step=30, max_steps=40)
    progress.on_train_begin(None, state, None)
    for step in range(31, 41):
        state.global_step = step
        progress.on_step_end(None, state, None)
    progress.on_train_end(None, state, None)
    assert [line.split(",")[0] for line in lines[:-1]] == ["step 40/40 (100%)"]
    assert lines[-1].startswith("trained 10 steps")


def test_cardiolora_train_prints_progress_not_raw_dicts(tiny_model_dir, tiny_pairs, tmp_path):
    from typer.testing import CliRunner

    from cardiolora.cli import app

    args = ["train", "--model", str(tiny_model_dir("bert")), "--data", str(tiny_pairs), "--out", str(tmp_path / "r"),
            "--max-steps", "4", "--batch-size", "8", "--report-to", "none", "-e", "cardiology"]  # fmt: skip
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "step 4/4 (100%)" in result.output and "trained 4 steps in" in result.output
    assert "{'loss'" not in result.output and "train_runtime" not in result.output
    assert "Computing widget examples" not in result.output
