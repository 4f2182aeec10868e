"""One corpus through the single-process path and through Ray with 1 and 2 workers, side by side.

    .venv/bin/python benchmarks/scale_embed.py --model minilm                   # 200,000 texts (the full run)
    .venv/bin/python benchmarks/scale_embed.py --model minilm --n 3000          # a quick check that it works

The corpus is generated clinical sentences (the bundled evaluation sets' sentences, varied so none
repeats: the same generator as ``encode_speed.py``), written as one JSONL file. Each run is timed end
to end as a user meets it: the single-process path is ``cardiolora embed --input corpus.jsonl --out
vectors.npy`` in a subprocess (model load included); each Ray run is ``embed_to_shards`` into a fresh
directory (a local Ray started and stopped, the actors' model loads and the Parquet writes
included). Reported per run: texts/s end to end, texts/s per worker while embedding (rows over the
seconds its shards took), peak resident memory per worker (``VmHWM``), the ratio of texts/s to the
single-process path, the largest cosine difference from the single-process vectors (matched by id),
and bytes per vector: float32 alone and as stored in the Parquet shards (id and text included).

Measure on an idle machine: timings taken while another process runs are not measurements
(DEVELOPERS.md). Writes the table's numbers as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

# The single-process path in a fresh process: its peak memory is its own (VmHWM), not this one's.
LOCAL_RUN = r"""
import json, sys, time
started = time.perf_counter()
from typer.testing import CliRunner
from cardiolora.cli import app
args = json.loads(sys.argv[1])
result = CliRunner().invoke(app, args)
if result.exit_code != 0:
    sys.exit(result.output + result.stderr)
seconds = time.perf_counter() - started
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak}))
"""


def clinical_texts(n: int) -> list[str]:
    from cardiolora.evaluation import bundled_eval_sets, load_eval_set

    pool = sorted({s for name in bundled_eval_sets() for s in load_eval_set(name).sentences()})
    return [f"{pool[i % len(pool)]} (case {i // len(pool)})" for i in range(n)]


def run_local(corpus: Path, out: Path, args) -> dict:
    command = ["embed", "--model", args.model, "--input", str(corpus), "--out", str(out), "--role", args.role,
               "--batch-size", str(args.batch_size), "--precision", args.precision]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", LOCAL_RUN, json.dumps(command)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"single-process run failed: {done.stderr.strip() or done.stdout.strip()}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {"engine": "local", "workers": 1, "seconds": measured["seconds"],
            "peak_rss_bytes": [measured["peak_rss_bytes"]]}  # fmt: skip


def run_ray(corpus: Path, out: Path, workers: int, args) -> tuple[dict, dict[str, np.ndarray]]:
    from cardiolora.distributed import embed_to_shards, iter_vector_shards

    per_worker: dict[str, list[float]] = {}

    def on_shard(done) -> None:
        rows, seconds = per_worker.get(done.worker, [0, 0.0])
        per_worker[done.worker] = [rows + done.rows, seconds + done.seconds]

    started = time.perf_counter()
    result = embed_to_shards([corpus], out, model=args.model, role=args.role, batch_size=args.batch_size,
                             precision=args.precision, workers=workers, rows_per_shard=args.rows_per_shard,
                             on_shard=on_shard)  # fmt: skip
    seconds = time.perf_counter() - started
    vectors: dict[str, np.ndarray] = {}
    for records, shard_vectors in iter_vector_shards(out):
        vectors.update(zip((r["id"] for r in records), shard_vectors, strict=True))
    shard_bytes = sum(p.stat().st_size for p in out.glob("part-*.parquet"))
    row = {
        "engine": "ray",
        "workers": workers,
        "seconds": seconds,
        "peak_rss_bytes": sorted(result.workers.values()),
        "worker_texts_per_s": [rows / s for rows, s in per_worker.values() if s > 0],
        "parquet_bytes_per_vector": shard_bytes / max(1, result.rows),
        "dimension": result.dimension,
    }
    return row, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--n", type=int, default=200_000, help="Texts in the corpus.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray pool sizes to run.")
    parser.add_argument("--rows-per-shard", type=int, default=None, help="Default: n/40, between 200 and 10,000.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--role", default="passage", help="passage: what an index of the corpus embeds.")
    parser.add_argument("--json", type=Path, default=Path("scale_embed.json"), help="Where the numbers go.")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the corpus and outputs in this directory.")
    args = parser.parse_args()
    args.rows_per_shard = args.rows_per_shard or min(10_000, max(200, args.n // 40))

    console = Console(width=None if sys.stdout.isatty() else 160)
    with tempfile.TemporaryDirectory(prefix="scale-embed-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        corpus = work / "corpus.jsonl"
        texts = clinical_texts(args.n)
        with open(corpus, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts))
        console.print(f"{args.n:,} texts, {args.model}, {args.precision}, batch {args.batch_size}, "
                      f"{args.rows_per_shard:,} rows per shard, {os.cpu_count()} CPUs")  # fmt: skip

        rows = [run_local(corpus, work / "local.npy", args)]
        reference = np.load(work / "local.npy")
        for workers in args.workers:
            row, vectors = run_ray(corpus, work / f"ray-{workers}", workers, args)
            got = np.stack([vectors[str(i)] for i in range(args.n)])
            row["max_cosine_difference"] = float(1.0 - (got * reference).sum(axis=1).min())
            rows.append(row)
    for row in rows:
        row["texts_per_s"] = args.n / row["seconds"]
        row["ratio_to_single_process"] = row["texts_per_s"] / rows[0]["texts_per_s"]
    dimension = rows[-1].get("dimension") or reference.shape[1]
    document = {
        "benchmark": "scale_embed",
        "n": args.n,
        "model": args.model,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "rows_per_shard": args.rows_per_shard,
        "cpus": os.cpu_count(),
        "float32_bytes_per_vector": 4 * int(dimension),
        "runs": rows,
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n")

    table = Table(title=f"{args.n:,} texts: single process vs Ray (end to end, model loads included)")
    for column in ("engine", "workers", "seconds", "texts/s", "ratio", "texts/s per worker (embedding)",
                   "peak MiB per worker", "max cos diff", "Parquet B/vector"):  # fmt: skip
        table.add_column(column, justify="left" if column == "engine" else "right")
    for row in rows:
        table.add_row(
            row["engine"],
            str(row["workers"]),
            f"{row['seconds']:.1f}",
            f"{row['texts_per_s']:,.0f}",
            f"{row['ratio_to_single_process']:.2f}",
            ", ".join(f"{r:,.0f}" for r in row.get("worker_texts_per_s", [])) or "-",
            ", ".join(f"{b / 2**20:,.0f}" for b in row["peak_rss_bytes"]),
            f"{row['max_cosine_difference']:.1e}" if "max_cosine_difference" in row else "-",
            f"{row['parquet_bytes_per_vector']:,.0f}" if "parquet_bytes_per_vector" in row else "-",
        )
    console.print(table)
    console.print(f"float32 bytes per vector: {4 * int(dimension)}; numbers written to {args.json}")


if __name__ == "__main__":
    main()
