"""``cardiolora bench``: inference latency, throughput and memory of one model (and adapter)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cardiolora.cli.common import (
    AdapterOption,
    ModelOption,
    PrecisionOption,
    TrustOption,
    app,
    console,
    plain,
    user_errors,
)

if TYPE_CHECKING:
    from cardiolora.bench import BenchmarkResult


def render_bench(result: BenchmarkResult) -> Table:
    # A model given as a path, or a device name, may hold [...]: printed literally, not as markup.
    table = Table(title=plain(f"benchmark of {result.name} on {result.device}"))
    table.add_column("measure")
    table.add_column("value", justify="right")
    latency, throughput, compute, memory = result.latency, result.throughput, result.compute, result.memory
    per_gb = result.emb_per_s_per_gb
    encoding = f"{compute['encode_flops_per_s'] / 1e9:.1f} ({100 * compute['share_of_peak']:.1f}%)"
    rows = [
        ("latency mean ± SD (ms)", f"{latency.mean_ms:.2f} ± {latency.sd_ms:.2f}"),
        ("latency p50 / p95 (ms)", f"{latency.p50_ms:.2f} / {latency.p95_ms:.2f}"),
        *[(f"emb/s at batch {b}", f"{v:.1f}") for b, v in throughput.emb_per_s_by_batch.items()],
        (
            "best emb/s" + (" (adapter unmerged)" if result.served_throughput else ""),
            f"{throughput.best_emb_per_s:.1f} (batch {throughput.best_batch_size})",
        ),
        *(
            [
                (
                    f"best emb/s as served ({result.served_as})",
                    f"{result.served_throughput.best_emb_per_s:.1f} (batch {result.served_throughput.best_batch_size})",
                )
            ]
            if result.served_throughput
            else []
        ),
        (f"memory ({memory.kind}, GB)", f"{memory.gb:.3f}"),
        ("emb/s per GB", "n/a" if per_gb is None else f"{per_gb:.1f}"),
        ("dimension", str(result.dimension)),
        ("parameters total / adapter", f"{result.parameters['total']:,} / {result.parameters['trainable']:,}"),
        ("matmul peak (GFLOP/s)", f"{compute['matmul_peak_flops_per_s'] / 1e9:.1f}"),
        ("encoding (GFLOP/s, share of peak)", encoding),
    ]
    for row in rows:
        table.add_row(*row)
    return table


@app.command()
@user_errors
def bench(
    model: ModelOption = None,
    adapter: AdapterOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write bench.json here.")] = None,
    iterations: Annotated[int, typer.Option("--iterations", help="Timed single-text encodes.")] = 100,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed encodes first.")] = 10,
    batch_sizes: Annotated[
        list[int] | None, typer.Option("--batch-size", metavar="N", help="Repeatable; default 1 4 16 32.")
    ] = None,
    throughput_texts: Annotated[int, typer.Option("--throughput-texts", help="Texts encoded per batch size.")] = 128,
    device: Annotated[
        str | None, typer.Option("--device", metavar="DEVICE", help="cpu, cuda, cuda:1 ... (default: best).")
    ] = None,
    precision: PrecisionOption = "fp32",
    trust_remote_code: TrustOption = False,
    in_process: Annotated[
        bool, typer.Option("--in-process", help="Measure in this process (memory then includes what ran before).")
    ] = False,
) -> None:
    """Latency (mean, SD, p50, p95), best throughput over batch sizes, peak memory, emb/s per GB,
    parameters, and the share of the machine's matmul FLOP/s that encoding reaches."""
    from cardiolora.bench import BenchSettings, run_benchmark
    from cardiolora.embedding import check_adapter_dir
    from cardiolora.io import write_json_atomic
    from cardiolora.models import resolve_model
    from cardiolora.models.adapters import model_for_adapter

    settings = BenchSettings(
        iterations=iterations,
        warmup=warmup,
        batch_sizes=tuple(batch_sizes or (1, 4, 16, 32)),
        throughput_texts=throughput_texts,
        device=device,
        precision=precision,
        trust_remote_code=trust_remote_code,
    )
    if adapter is not None:
        adapter = check_adapter_dir(adapter)  # a run directory stands for its adapter/
    model = model_for_adapter(model, adapter)  # the adapter's base by default; another zoo model is refused
    resolve_model(model)  # unknown or unavailable models fail here, before a subprocess starts
    with console.status("benchmarking") as status:
        result = run_benchmark(
            model, adapter, settings, fresh_process=not in_process, progress=lambda m: status.update(plain(m))
        )
    console.print(render_bench(result))
    if out is not None:
        write_json_atomic(out, result.to_dict())
        console.print(f"written to {plain(out)}")
