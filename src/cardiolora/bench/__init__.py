"""Inference benchmarks: latency, throughput, memory and the machine's matmul peak."""

from cardiolora.bench.benchmark import BenchSettings, machine_info, matmul_flops, measure, run_benchmark

__all__ = ["BenchSettings", "machine_info", "matmul_flops", "measure", "run_benchmark"]
