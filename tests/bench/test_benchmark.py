from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cardiolora.bench import BenchmarkResult, BenchSettings, matmul_flops, measure, run_benchmark
from cardiolora.cli import app
from cardiolora.errors import CardioloraError
from tests.helpers import assert_clean_failure

runner = CliRunner()
SMALL = {"iterations": 5, "warmup": 1, "batch_sizes": (1, 4), "throughput_texts": 8, "matmul_size": 256}


def test_measure_reports_the_study_protocol(tiny_model_dir):
    result = measure(str(tiny_model_dir("bert")), None, BenchSettings(**SMALL))
    latency = result.latency
    assert latency.iterations == 5
    assert 0 < latency.p50_ms <= latency.p95_ms and latency.sd_ms >= 0
    by_batch = result.throughput.emb_per_s_by_batch
    assert set(by_batch) == {"1", "4"}
    assert result.throughput.best_emb_per_s == max(by_batch.values())
    assert result.dimension == 32
    assert result.parameters["total"] > result.parameters["embedding"] > 0
    assert 0 < result.compute["share_of_peak"] < 1
    assert result.memory.kind in ("peak RSS increase", "cuda max allocated")
    assert result.served_throughput is None  # no adapter: nothing is served differently
    # bench.json's layout, and back.
    saved = json.loads(json.dumps(result.to_dict()))
    assert saved["schema"] == "cardiolora.bench/1" and saved["latency"]["p50_ms"] == latency.p50_ms
    assert BenchmarkResult.from_dict(saved) == result


def test_fresh_process_benchmark_with_an_adapter(tiny_config):
    from cardiolora.training import train

    # Hold 1.5 GB here first: the subprocess must not report this process's peak as its own
    # (Linux carries getrusage's maxrss across exec).
    ballast = bytearray(1_500_000_000)
    ballast[::4096] = b"x" * len(ballast[::4096])
    run = train(tiny_config(max_steps=1), log=lambda *_: None)
    result = run_benchmark(tiny_config().model, run.adapter_dir, BenchSettings(**SMALL))
    assert result.fresh_process is True
    assert result.parameters["trainable"] > 0  # the LoRA weights
    assert result.model["adapter"] == str(run.adapter_dir)
    assert 0 < result.memory.gb < 1.0
    # Unmerged (throughput) and as served (merged), both measured.
    assert result.served_as == "merged" and result.served_throughput.best_emb_per_s > 0
    assert set(result.served_throughput.emb_per_s_by_batch) == set(result.throughput.emb_per_s_by_batch)
    assert BenchmarkResult.from_dict(result.to_dict()) == result
    del ballast


def test_matmul_peak_is_positive():
    assert matmul_flops(128, seconds=0.05) > 1e6


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"iterations": 0}, "iterations"),
        ({"batch_sizes": (0,)}, "batch sizes"),
        ({"throughput_texts": 2, "batch_sizes": (8,)}, "throughput_texts"),
    ],
)
def test_bad_settings(settings, fragment):
    with pytest.raises(CardioloraError, match=fragment):
        BenchSettings(**settings)


def test_cli_writes_bench_json(tiny_model_dir, tmp_path):
    out = tmp_path / "bench.json"
    args = ["bench", "--model", str(tiny_model_dir("bert")), "--iterations", "3", "--warmup", "1",
            "--batch-size", "1", "--batch-size", "2", "--throughput-texts", "4", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["schema"] == "cardiolora.bench/1" and saved["versions"]["torch"]


def test_cli_unknown_model_fails_cleanly(tmp_path):
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", "--model", "minilmm", "--out", str(out)])
    assert_clean_failure(result, out, fragments=["did you mean 'minilm'"])
