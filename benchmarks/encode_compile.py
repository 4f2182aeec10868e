"""Does ``torch.compile`` speed up encoding (serving's work)? Eager and compiled, each in a fresh process.

    .venv/bin/python benchmarks/encode_compile.py --model minilm --data data/cardio-recommended.jsonl

Both encode the same ``--requests`` batches of ``--batch-size`` anchor texts with
sentence-transformers' ``encode`` under bf16 autocast and inference mode, as the server does on a
CPU with native bf16, after ``--warmup`` batches (for the compiled one, the compilation). Prints texts
per second and the warm-up seconds of each, and compiled over eager.
"""

from __future__ import annotations

import os
import time

from fresh_process import parse_or_work, run_fresh, variant_parser

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _worker(spec: dict) -> dict:
    import random

    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    from cardiolora.data import load_pairs
    from cardiolora.models import resolve_model

    transformers.utils.logging.set_verbosity_error()
    texts = [p.anchor for p in load_pairs(spec["data"])]
    random.Random(0).shuffle(texts)
    model = SentenceTransformer(str(resolve_model(spec["model"]).path), device="cpu").eval()
    if spec["compile"]:
        # sentence-transformers 6 calls the Transformer module's ``model``.
        model[0].model = torch.compile(model[0].model, dynamic=True)
    size = spec["batch_size"]
    batches = [texts[i * size : (i + 1) * size] for i in range(spec["warmup"] + spec["requests"])]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        start = time.perf_counter()
        for batch in batches[: spec["warmup"]]:
            model.encode(batch, batch_size=size)
        warm = time.perf_counter() - start
        start = time.perf_counter()
        for batch in batches[spec["warmup"] :]:
            model.encode(batch, batch_size=size)
        elapsed = time.perf_counter() - start
    return {"compile": spec["compile"], "texts_per_second": spec["requests"] * size / elapsed, "warmup_seconds": warm}


def main() -> None:
    parser = variant_parser(__doc__, batch_size=16)
    parser.add_argument("--requests", type=int, default=200)
    args = parse_or_work(parser, _worker)
    if args is None:
        return
    base = {"model": args.model, "data": args.data, "batch_size": args.batch_size, "requests": args.requests,
            "warmup": args.warmup}  # fmt: skip
    results = []
    for compiled in (False, True):
        label = "compiled" if compiled else "eager"
        results.append(run_fresh(__file__, {**base, "compile": compiled}, label))
        print(
            f"{label:9s} {results[-1]['texts_per_second']:.1f} texts/s (warm-up {results[-1]['warmup_seconds']:.1f} s)"
        )
    print(f"compiled / eager: {results[1]['texts_per_second'] / results[0]['texts_per_second']:.2f}x")


if __name__ == "__main__":
    main()
