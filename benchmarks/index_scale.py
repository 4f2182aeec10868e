"""Flat, HNSW and IVF-PQ on one set of vectors, side by side: build time, index size against the float32
vectors, single-query latency (p50, p99) and recall@10 against exact search, at several nprobe values.

    .venv/bin/python benchmarks/index_scale.py                       # 1,000,000 vectors (the full run)
    .venv/bin/python benchmarks/index_scale.py --n 20000 --base 2000 # a quick check that it works

Vectors: ``--base`` real embeddings (``--model``, passage role) of generated clinical sentences (the
bundled evaluation sets' sentences, varied so none repeats: the generator of ``scale_embed.py``); when
``--n`` is larger, the rest are synthetic, derived from them: a random real vector plus Gaussian noise
of norm ``--noise`` (0.3: cosine ~0.96 to its parent), renormalised. The output says how many of each.
Queries: ``--queries`` held-out vectors made the same way (not in the index). Exact top-10 by brute force
over all vectors. recall@10 = mean |index top-10 ∩ exact top-10| / 10 (what ``index build
--check-recall`` prints); ``nn@10`` = share of queries whose exact nearest neighbour is in the index's
top 10. ``--rerank``: ivf-pq is measured with its codes alone (0) and with that many candidates re-scored
exactly from ``vectors.f32`` (written by the build, so in the page cache: a warm-cache latency; "index /
float32" is what the index holds, "on disk / float32" adds the vectors file). Latency: one query a call,
after a warm-up, over the memory-mapped index as ``cardiolora search`` opens it; build:
``build_index_from_chunks`` in chunks of ``--chunk`` vectors (the Ray path's way).

Measure on an idle machine: timings taken while another process runs are not measurements
(DEVELOPERS.md). Writes the numbers as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_embed import clinical_texts  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 140)  # the whole table in a log file


def real_vectors(model: str, count: int) -> np.ndarray:
    from cardiolora.embedding import Embedder

    embedder = Embedder.load(model)
    return embedder.encode(clinical_texts(count), role="passage", show_progress=True).astype(np.float32)


def derived(base: np.ndarray, count: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` vectors near random real ones (see the module)."""
    parents = base[rng.integers(0, len(base), count)]
    jitter = rng.standard_normal(parents.shape).astype(np.float32)
    jitter *= noise / np.linalg.norm(jitter, axis=1, keepdims=True)
    vectors = parents + jitter
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from cardiolora.index.build import RECALL_K, _ExactTopK

    tracker = _ExactTopK(queries, RECALL_K)
    for start in range(0, len(vectors), 65_536):
        tracker.add(vectors[start : start + 65_536], start)
    order = np.argsort(-tracker.scores, axis=1)
    return np.take_along_axis(tracker.ids, order, axis=1)


def measure(index, info, queries: np.ndarray, truth: np.ndarray, nprobe: int | None, exact=None) -> dict:
    from cardiolora.index.build import recall_at_k
    from cardiolora.index.search import search_vectors

    for query in queries[:20]:  # warm-up: the mapped pages and the lists' first touch
        search_vectors(index, info, query[None, :], 10, nprobe, exact)
    found, times = [], []
    for query in queries:
        started = time.perf_counter()
        _, ids = search_vectors(index, info, query[None, :], 10, nprobe, exact)
        times.append(time.perf_counter() - started)
        found.append(ids[0])
    found = np.array(found)
    return {
        "nprobe": nprobe,
        "rerank": (info["recipe"].get("rerank") or 0) if exact is not None else 0,
        "p50_ms": float(np.percentile(times, 50) * 1000),
        "p99_ms": float(np.percentile(times, 99) * 1000),
        "recall@10": recall_at_k(found, truth),
        "nn@10": float(np.mean([truth[i, 0] in found[i] for i in range(len(found))])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors in the index")
    parser.add_argument("--base", type=int, default=20_000, help="real embeddings (the rest derived from them)")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--types", nargs="+", default=["flat", "hnsw", "ivf-pq"])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--nlist", type=int, default=None)
    parser.add_argument("--pq-m", type=int, default=None)
    parser.add_argument(
        "--rerank", type=int, nargs="+", default=[0, 100], help="ivf-pq candidates re-ranked exactly (0: codes only)"
    )
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=None, help="FAISS threads (default: FAISS's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import faiss

    from cardiolora.index import build_index_from_chunks
    from cardiolora.index.search import open_exact_vectors, open_faiss_index

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    base = real_vectors(args.model, min(args.base, args.n))
    vectors = np.concatenate([base, derived(base, args.n - len(base), args.noise, rng)]) if args.n > len(base) else base
    queries = derived(base, args.queries, args.noise, rng)
    source = (
        f"{len(base):,} real {args.model} embeddings of generated clinical sentences"
        + (f" + {args.n - len(base):,} derived (a real vector + noise of norm {args.noise}, renormalised)")
        * (args.n > len(base))
        + f"; {args.queries:,} held-out derived queries"
    )
    console.print(source)
    with console.status("exact top-10 by brute force"):
        truth = exact_top10(vectors, queries)
    float32_bytes = vectors.nbytes
    rows_of = lambda start, stop: [{"id": str(i), "text": ""} for i in range(start, stop)]  # noqa: E731
    results = []
    with tempfile.TemporaryDirectory(prefix="index-scale-") as tmp:
        for index_type in args.types:
            chunks = (
                (rows_of(s, min(s + args.chunk, len(vectors))), vectors[s : s + args.chunk])
                for s in range(0, len(vectors), args.chunk)
            )
            options = (
                {"nlist": args.nlist, "pq_m": args.pq_m, "rerank": max(args.rerank)} if index_type == "ivf-pq" else {}
            )
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task(f"building {index_type}", total=len(vectors))
                started = time.perf_counter()
                built = build_index_from_chunks(
                    chunks,
                    Path(tmp) / index_type,
                    index_type=index_type,
                    count=len(vectors),
                    seed=args.seed,
                    progress=lambda rows: bar.advance(task, rows),  # noqa: B023
                    **options,
                )
                seconds = time.perf_counter() - started
            index = open_faiss_index(built.path, built.info)
            recipe = built.info["recipe"]
            probes = (
                [p for p in args.nprobe if p <= (recipe.get("nlist") or 0)] if index_type.startswith("ivf") else [None]
            )
            exact = open_exact_vectors(built.path, built.info)
            exact_bytes = exact.nbytes if exact is not None else 0
            for rerank in sorted(set(args.rerank)) if exact is not None else [0]:
                info = {**built.info, "recipe": {**recipe, "rerank": rerank}}
                for nprobe in probes:
                    row = measure(index, info, queries, truth, nprobe, exact if rerank else None)
                    results.append({
                        "type": index_type, "factory": recipe["factory"], "build_s": seconds,
                        "index_bytes": built.info["index_bytes"], "float32_bytes": float32_bytes,
                        "disk_bytes": built.info["index_bytes"] + exact_bytes,
                        "train_size": recipe.get("train_size"), **row,
                    })  # fmt: skip
            del index, exact
    table = Table(title=f"{args.n:,} vectors, {vectors.shape[1]} dimensions, {args.queries:,} queries, one at a time")
    columns = ("type", "recipe", "build s", "index / float32", "on disk / float32", "nprobe", "rerank")
    for column in (*columns, "p50 ms", "p99 ms", "recall@10", "nn@10"):
        table.add_column(column, justify="left" if column in ("type", "recipe") else "right")
    for r in results:
        ratio, disk = r["index_bytes"] / r["float32_bytes"], r["disk_bytes"] / r["float32_bytes"]
        timings = (f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}")
        quality = (f"{r['recall@10']:.3f}", f"{r['nn@10']:.3f}")
        table.add_row(
            r["type"], r["factory"], f"{r['build_s']:.1f}", f"{ratio:.3f}", f"{disk:.3f}", str(r["nprobe"] or "-"),
            str(r["rerank"] or "-"), *timings, *quality,
        )  # fmt: skip
    console.print(table)
    if args.json:
        document = {"n": args.n, "dimension": int(vectors.shape[1]), "vectors": source, "results": results}
        args.json.write_text(json.dumps(document, indent=2))
        console.print(f"written to {args.json}")


if __name__ == "__main__":
    main()
