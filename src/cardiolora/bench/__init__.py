"""Inference benchmarks: latency, throughput, memory and the machine's matmul peak."""

from cardiolora.bench.benchmark import (
    BenchmarkResult,
    BenchSettings,
    Latency,
    Memory,
    Throughput,
    machine_info,
    matmul_flops,
    measure,
    run_benchmark,
)

__all__ = [
    "BenchmarkResult",
    "BenchSettings",
    "Latency",
    "Memory",
    "Throughput",
    "machine_info",
    "matmul_flops",
    "measure",
    "run_benchmark",
]
