"""Inference cost of a model (and adapter): latency, throughput, memory, and the share of the
machine's matmul peak that encoding reaches.

The study's protocol: single-text latency over 100 iterations after 10 warm-up (mean, SD, p50, p95);
throughput as the best embeddings/s over batch sizes 1, 4, 16 and 32; peak memory during inference;
embeddings/s per GB. On a CPU, peak memory is the rise of the process's peak RSS over what it held
before the model was loaded, so each model is measured in a fresh subprocess (an earlier model's
peak would otherwise hide a smaller one's).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cardiolora.errors import CardioloraError

SCHEMA = "cardiolora.bench/1"


@dataclass
class BenchSettings:
    """How to measure. Defaults are the study's protocol."""

    iterations: int = 100
    warmup: int = 10
    batch_sizes: tuple[int, ...] = (1, 4, 16, 32)
    throughput_texts: int = 128
    device: str | None = None
    precision: str = "fp32"
    max_seq_length: int | None = None
    trust_remote_code: bool = False
    matmul_size: int = 2048

    def __post_init__(self) -> None:
        self.batch_sizes = tuple(int(b) for b in self.batch_sizes)
        if self.iterations < 1 or self.warmup < 0:
            raise CardioloraError("bench: iterations must be >= 1 and warmup >= 0")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise CardioloraError("bench: batch sizes must be positive integers")
        if self.throughput_texts < max(self.batch_sizes):
            raise CardioloraError(
                f"bench: throughput_texts ({self.throughput_texts}) must be at least the largest batch size"
            )


@dataclass(frozen=True)
class Latency:
    """Single-text encode times in milliseconds."""

    mean_ms: float
    sd_ms: float
    p50_ms: float
    p95_ms: float
    iterations: int


@dataclass(frozen=True)
class Throughput:
    """Embeddings per second at each batch size (keys are the batch sizes as strings, as in JSON)."""

    emb_per_s_by_batch: dict[str, float]
    best_emb_per_s: float
    best_batch_size: int


@dataclass(frozen=True)
class Memory:
    """Peak memory of inference: CUDA's max allocated, or on a CPU the rise of the peak RSS."""

    bytes: int
    gb: float
    kind: str


@dataclass
class BenchmarkResult:
    """One benchmark, as ``bench.json`` holds it (:meth:`to_dict`, :meth:`from_dict`)."""

    model: dict[str, Any]
    device: str
    latency: Latency
    throughput: Throughput
    memory: Memory
    emb_per_s_per_gb: float | None
    dimension: int
    parameters: dict[str, int]
    compute: dict[str, float]
    machine: dict[str, Any]
    settings: dict[str, Any]
    fresh_process: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    # With a LoRA adapter: throughput as `cardiolora serve` runs a single-adapter batch (the adapter
    # merged into a copy of the weights); ``throughput`` above is the adapter unmerged.
    served_throughput: Throughput | None = None
    served_as: str | None = None

    @property
    def name(self) -> str:
        return self.model["name"] + (" + adapter" if self.model.get("adapter") else "")

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BenchmarkResult:
        nested = {"latency": Latency, "throughput": Throughput, "memory": Memory}
        kwargs = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        for key, kind in nested.items():
            kwargs[key] = kind(**values[key])
        if values.get("served_throughput"):
            kwargs["served_throughput"] = Throughput(**values["served_throughput"])
        return cls(**kwargs)


def benchmark_texts(count: int) -> list[str]:
    """Clinical sentences of realistic length: the bundled cardiology set's texts, cycled."""
    from cardiolora.evaluation import load_eval_set

    sentences = load_eval_set("cardiology").sentences()
    return [sentences[i % len(sentences)] for i in range(count)]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so a subprocess
    # started by a large parent (a study that just trained) would report the parent's peak.
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")  # pragma: no cover - Linux always has it


def matmul_flops(size: int = 2048, device: str = "cpu", seconds: float = 1.0) -> float:
    """Dense float32 matmul FLOP/s of this machine (best of repeated ``size`` x ``size`` products)."""
    import torch

    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == 0.0:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def machine_info() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _latency_stats(seconds: list[float]) -> Latency:
    ms = sorted(s * 1000 for s in seconds)

    def quantile(q: float) -> float:
        return statistics.quantiles(ms, n=100, method="inclusive")[int(q) - 1] if len(ms) > 1 else ms[0]

    return Latency(
        mean_ms=statistics.fmean(ms),
        sd_ms=statistics.stdev(ms) if len(ms) > 1 else 0.0,
        p50_ms=statistics.median(ms),
        p95_ms=quantile(95),
        iterations=len(ms),
    )


def measure(model: str, adapter: str | None, settings: BenchSettings, progress=None) -> BenchmarkResult:
    """Measure in this process (call through :func:`run_benchmark` for a clean memory number)."""
    import torch

    from cardiolora.embedding import Embedder

    def say(message: str) -> None:
        if progress:
            progress(message)

    cuda = (settings.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_bytes()
    say(f"loading {model}" + (f" with adapter {adapter}" if adapter else ""))
    embedder = Embedder.load(
        model,
        adapter=adapter,
        device=settings.device,
        trust_remote_code=settings.trust_remote_code,
        max_seq_length=settings.max_seq_length,
        precision=settings.precision,
    )
    device = str(embedder.model.device)
    texts = benchmark_texts(max(settings.throughput_texts, settings.iterations + settings.warmup))

    say(f"latency: {settings.warmup} warm-up + {settings.iterations} single-text encodes")
    for text in texts[: settings.warmup]:
        embedder.encode([text], show_progress=False)
    latencies = []
    for text in texts[settings.warmup : settings.warmup + settings.iterations]:
        start = time.perf_counter()
        embedder.encode([text], show_progress=False)
        latencies.append(time.perf_counter() - start)

    batch_texts = texts[: settings.throughput_texts]
    measured = _throughput(embedder, batch_texts, settings.batch_sizes, say)
    best = measured.best_emb_per_s
    # Memory now, before a merged copy (measured below) adds its own weights.
    if cuda:
        memory = torch.cuda.max_memory_allocated()
        memory_kind = "cuda max allocated"
    else:
        memory = max(0, _peak_rss_bytes() - rss_before)
        memory_kind = "peak RSS increase"
    served, served_as = None, None
    if adapter:
        served_embedder = _as_served(embedder)
        if served_embedder is not None:
            say("as served: the adapter merged into a copy of the weights")
            served, served_as = _throughput(served_embedder, batch_texts, settings.batch_sizes, say), "merged"
            del served_embedder

    tokenizer = embedder.model.tokenizer
    max_len = embedder.model.max_seq_length
    tokens = sum(min(len(tokenizer(t)["input_ids"]), max_len) for t in batch_texts) / len(batch_texts)
    total = sum(p.numel() for p in embedder.model.parameters())
    embedding_params = sum(m.weight.numel() for m in embedder.model.modules() if isinstance(m, torch.nn.Embedding))
    adapter_params = sum(p.numel() for n, p in embedder.model.named_parameters() if "lora_" in n or "ia3_" in n)
    # Encoding cost ~ 2 FLOPs per weight per token (the matmuls; attention scores are small at
    # these lengths); embedding lookups do no arithmetic.
    encode_flops = 2 * (total - embedding_params) * tokens * best
    say("dense matmul peak")
    peak = matmul_flops(settings.matmul_size, device="cuda" if cuda else "cpu")
    gigabytes = memory / 1e9
    return BenchmarkResult(
        model=embedder.describe(),
        device=device,
        latency=_latency_stats(latencies),
        throughput=measured,
        memory=Memory(memory, gigabytes, memory_kind),
        emb_per_s_per_gb=best / gigabytes if gigabytes > 0 else None,
        dimension=embedder.dimension,
        parameters={"total": total, "trainable": adapter_params, "embedding": embedding_params},
        compute={
            "mean_tokens_per_text": tokens,
            "encode_flops_per_s": encode_flops,
            "matmul_peak_flops_per_s": peak,
            "share_of_peak": encode_flops / peak,
        },
        machine=machine_info(),
        settings={**asdict(settings), "batch_sizes": list(settings.batch_sizes)},
        served_throughput=served,
        served_as=served_as,
    )


def _throughput(embedder, texts: list[str], batch_sizes, say) -> Throughput:
    by_batch = {}
    for batch_size in batch_sizes:
        say(f"throughput at batch size {batch_size}")
        embedder.encode(texts[:batch_size], batch_size=batch_size, show_progress=False)
        start = time.perf_counter()
        embedder.encode(texts, batch_size=batch_size, show_progress=False)
        by_batch[str(batch_size)] = len(texts) / (time.perf_counter() - start)
    best = max(by_batch, key=by_batch.get)
    return Throughput(by_batch, by_batch[best], int(best))


def _as_served(embedder):
    """The embedder as `cardiolora serve` runs a batch for its one LoRA adapter: merged into a copy
    of the weights (:func:`cardiolora.serve.pool.merged_copy`); None for other adapters."""
    from cardiolora.embedding import Embedder
    from cardiolora.serve.pool import lora_adapter_names, merged_copy

    names = lora_adapter_names(embedder.model)
    if len(names) != 1:
        return None
    model = merged_copy(embedder.model, names[0])
    return Embedder(model, embedder.spec, embedder.source, embedder.adapter, embedder.batch_size, embedder.precision)


def run_benchmark(
    model: str,
    adapter: str | Path | None = None,
    settings: BenchSettings | None = None,
    *,
    fresh_process: bool = True,
    progress=None,
) -> BenchmarkResult:
    """Benchmark ``model`` (with ``adapter``); by default in a fresh subprocess for an honest memory
    number. Progress lines go to ``progress`` (in-process) or the subprocess's stderr."""
    from cardiolora.versions import package_versions

    settings = settings or BenchSettings()
    adapter = str(adapter) if adapter else None
    if not fresh_process:
        result = measure(model, adapter, settings, progress)
    else:
        request = json.dumps({"model": model, "adapter": adapter, "settings": asdict(settings)})
        proc = subprocess.run(
            [sys.executable, "-m", "cardiolora.bench.worker"],
            input=request,
            capture_output=True,
            text=True,
            env={**os.environ, "CARDIOLORA_BENCH_QUIET": "" if progress else "1"},
        )
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
            raise CardioloraError(f"benchmark of {model} failed: {lines[-1] if lines else 'no message'}")
        if progress:
            for line in proc.stderr.splitlines():
                if line.startswith("bench: "):
                    progress(line[len("bench: ") :])
        result = BenchmarkResult.from_dict(json.loads(proc.stdout))
    result.fresh_process = fresh_process
    result.versions = package_versions()
    return result
