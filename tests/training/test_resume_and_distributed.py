"""A killed run resumes to the same final step; two CPU processes train with gloo DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def _train_command(model, data, out, *extra):
    return [sys.executable, "-m", "cardiolora", "train", "--model", str(model), "--data", str(data),
            "--out", str(out), "--batch-size", "8", "--report-to", "none", *extra]  # fmt: skip


def test_a_killed_run_resumes_to_the_same_final_step(tiny_model_dir, tiny_pairs, tmp_path):
    out = tmp_path / "run"
    command = _train_command(tiny_model_dir("bert"), tiny_pairs, out, "--max-steps", "400", "--save-steps", "20",
                             "--eval-steps", "20", "-e", "cardiology")  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while not list((out / "checkpoints").glob("checkpoint-40")):
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline, "no checkpoint appeared in time"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (out / "metrics.json").exists(), "killed before the end"

    # Without --resume an unfinished run is refused, not clobbered.
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    before_kill = json.loads((out / "history.json").read_text())
    assert before_kill and before_kill[0]["steps"] == 20
    # The run's own config.json holds --data and the rest: --out and --resume are enough.
    resume = [sys.executable, "-m", "cardiolora", "train", "--out", str(out), "--resume"]
    resumed = subprocess.run(resume, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stdout
    assert "zero-shot evaluation: kept from before the resume" in resumed.stdout  # not evaluated again
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["global_step"] == 400
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert metrics["final"]["cardiology"]["separation"] is not None
    assert metrics["zero_shot"]["cardiology"]["separation"] is not None and metrics["retention"] == []
    # The history holds every evaluation, those before the kill too, each step once.
    steps = [h["steps"] for h in metrics["history"]]
    assert steps == list(range(20, 401, 20)), steps
    finished = subprocess.run(resume, capture_output=True, text=True)
    assert finished.returncode == 2 and "nothing to resume" in finished.stderr


@pytest.mark.timeout(600)
def test_two_cpu_processes_train_with_gloo(tiny_model_dir, tiny_pairs, tmp_path):
    out = tmp_path / "ddp"
    # torchrun's -m, then the module and its arguments: drop the interpreter from the plain command.
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               *_train_command(tiny_model_dir("bert"), tiny_pairs, out, "--max-steps", "4")[1:]]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained on 2 processes (distributed data parallel)" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["world_size"] == 2 and metrics["training"]["global_step"] == 4
