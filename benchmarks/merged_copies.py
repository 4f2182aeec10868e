"""Merged copies against merging off, in one process, request by request: the instrument for
``AdapterPool``'s merged-copy policy that two server processes could not be.

    .venv/bin/python benchmarks/merged_copies.py --model minilm --requests 300

``serve_load.py --soak`` compares a server with merged copies against a second server with merging
off; a control run with no copy fitting in either (``--soak-cache-copies 0``) measured the first
server at 0.88-0.93x of the second, so differences of 10% between the two processes are not the
policy's. Here both pools live in this process and serve the same single-model batches in turn
(pool A batch i, pool B batch i, the order alternating each request), so both see the same machine
state. Two cases: ``rotating`` over ``--adapters`` adapters (more than ``--copies`` fit), and ``one``
adapter repeated. Printed per case: texts/s of each pool, their ratio, a paired bootstrap 95% CI of
the ratio over requests (scipy), and the pool's merged-copy counts (hit, switch, miss, built).

Measure on an idle machine: timings taken while another process runs are not measurements
(DEVELOPERS.md). ``--json`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import random_adapters  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 140)


def ratio_ci(merged: np.ndarray, unmerged: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% CI of total-unmerged-time / total-merged-time (the texts/s ratio), requests resampled in pairs."""
    from scipy.stats import bootstrap

    result = bootstrap(
        (unmerged, merged),
        lambda u, m: u.sum() / m.sum(),
        paired=True,
        vectorized=False,
        n_resamples=2000,
        random_state=seed,
        method="percentile",
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--adapters", type=int, default=6, help="adapters of the rotating case")
    parser.add_argument("--copies", type=int, default=4, help="merged copies the budget holds")
    parser.add_argument("--requests", type=int, default=300, help="batches per case and pool")
    parser.add_argument("--texts", type=int, default=16, help="texts per batch")
    parser.add_argument("--precision", default="auto", help="as `cardiolora serve --precision`")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from cardiolora.evaluation import bundled_eval_sets, load_eval_set
    from cardiolora.serve import AdapterPool

    pool_texts = sorted({s for name in bundled_eval_sets() for s in load_eval_set(name).sentences()})
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        adapters = {k: str(v) for k, v in random_adapters(args.model, args.adapters, Path(tmp)).items()}
        unmerged = AdapterPool.load(args.model, adapters, merged_cache_mb=0, precision=args.precision)
        budget = unmerged._weight_bytes() * (args.copies + 0.5) / 1e6
        merged = AdapterPool.load(args.model, adapters, merged_cache_mb=budget, precision=args.precision)
        names = sorted(adapters)
        cases = {
            "rotating": [names[i % len(names)] for i in range(args.requests)],
            "one": [names[0]] * args.requests,
        }
        results = {}
        for case, sequence in cases.items():
            batches = [rng.sample(pool_texts, args.texts) for _ in sequence]
            for pool in (merged, unmerged):  # warm-up: first touches, and copies built where they fit
                for name, texts in list(zip(sequence, batches, strict=True))[:40]:
                    pool.encode(texts, name)
            before = dict(merged.merge_stats)
            seconds = {"merged": [], "unmerged": []}
            pairs = list(zip(sequence, batches, strict=True))
            for i, (name, texts) in enumerate(track(pairs, description=case, console=console, transient=True)):
                order = (("merged", merged), ("unmerged", unmerged))
                for label, pool in order if i % 2 == 0 else order[::-1]:
                    started = time.perf_counter()
                    pool.encode(texts, name)
                    seconds[label].append(time.perf_counter() - started)
            m, u = np.array(seconds["merged"]), np.array(seconds["unmerged"])
            texts_total = args.texts * len(sequence)
            low, high = ratio_ci(m, u)
            results[case] = {
                "merged_texts_s": texts_total / m.sum(),
                "unmerged_texts_s": texts_total / u.sum(),
                "ratio": u.sum() / m.sum(),
                "ratio_ci95": [low, high],
                "events": {k: merged.merge_stats[k] - before[k] for k in before},
            }
    table = Table(
        title=f"{args.model}: merged copies ({args.copies} fit) vs merging off, one process, {args.requests} "
        f"batches of {args.texts} texts a case, interleaved"
    )
    for column in ("case", "merged texts/s", "merging off texts/s", "ratio [95% CI]", "merged-copy counts"):
        table.add_column(column)
    for case, r in results.items():
        table.add_row(
            case,
            f"{r['merged_texts_s']:.0f}",
            f"{r['unmerged_texts_s']:.0f}",
            f"{r['ratio']:.3f} [{r['ratio_ci95'][0]:.3f}, {r['ratio_ci95'][1]:.3f}]",
            ", ".join(f"{k} {v}" for k, v in r["events"].items()),
        )
    console.print(table)
    if args.json:
        args.json.write_text(
            json.dumps({"settings": vars(args) | {"json": str(args.json)}, "results": results}, indent=2)
        )
        console.print(f"written to {args.json}")


if __name__ == "__main__":
    main()
