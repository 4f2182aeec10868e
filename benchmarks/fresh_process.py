"""Run one benchmark variant in a fresh Python process: the script again with ``--worker SPEC``.

A fresh process per variant keeps one variant's allocator, thread pools and compiled kernels from
timing the next. The script's ``--worker`` branch prints its result as JSON on the last line.
"""

from __future__ import annotations

import json
import subprocess
import sys


def run_fresh(script: str, spec: dict, label: str) -> dict:
    """``python script --worker json(spec)``; its last stdout line parsed, or exit naming ``label``."""
    done = subprocess.run(
        [sys.executable, script, "--worker", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def variant_parser(doc: str, batch_size: int | None):
    """The arguments every fresh-process benchmark takes: model, data, warm-up, batch size (left out
    when ``batch_size`` is None: the benchmark takes its own sizes), and the hidden ``--worker SPEC``
    of :func:`run_fresh`."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--data", default="data/cardio-recommended.jsonl")
    parser.add_argument("--warmup", type=int, default=5)
    if batch_size is not None:
        parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def parse_or_work(parser, worker):
    """Parse the arguments; in a ``--worker`` process run ``worker(spec)``, print its JSON result
    for :func:`run_fresh` and return None."""
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return None
    return args
