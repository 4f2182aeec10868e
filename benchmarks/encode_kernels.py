"""Which kernels encode fastest (serving's work)? Attention kernels and ``torch.compile``, per batch size,
each variant in a fresh process.

    .venv/bin/python benchmarks/encode_kernels.py --model minilm --data data/cardio-recommended.jsonl
    .venv/bin/python benchmarks/encode_kernels.py --variant sdpa --variant compiled --batch-sizes 16

Every variant encodes the same ``--requests`` batches of texts with sentence-transformers' ``encode``
under bf16 autocast and inference mode, as the server does on a CPU with native bf16, after
``--warmup`` batches (for the compiled one, the compilation). Variants: ``sdpa`` (PyTorch's scaled
dot-product attention, the model's default as transformers loads it), ``eager`` (transformers' own
attention: matmul, softmax, matmul), ``compiled`` (sdpa under ``torch.compile(dynamic=True)``). The
texts are the bundled cardiology evaluation sentences (what ``benchmarks/serve_load.py``'s clients
send) or, with ``--texts anchors``, the data's anchors. Prints texts per second per variant and batch
size, and each variant over sdpa at the same batch size.
"""

from __future__ import annotations

import os
import time

from fresh_process import parse_or_work, run_fresh, variant_parser

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VARIANTS = ("sdpa", "eager", "compiled")


def _texts(spec: dict) -> list[str]:
    import random

    if spec["texts"] == "anchors":
        from cardiolora.data import load_pairs

        texts = [p.anchor for p in load_pairs(spec["data"])]
    else:
        from cardiolora.evaluation import load_eval_set

        texts = load_eval_set("cardiology").sentences()
    random.Random(0).shuffle(texts)
    return texts


def _worker(spec: dict) -> dict:
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    from cardiolora.models import resolve_model

    transformers.utils.logging.set_verbosity_error()
    texts = _texts(spec)
    attention = "eager" if spec["variant"] == "eager" else "sdpa"
    model = SentenceTransformer(
        str(resolve_model(spec["model"]).path), device="cpu", model_kwargs={"attn_implementation": attention}
    ).eval()
    if spec["variant"] == "compiled":
        # sentence-transformers 6 calls the Transformer module's ``model``.
        model[0].model = torch.compile(model[0].model, dynamic=True)
    size = spec["batch_size"]
    wanted = (spec["warmup"] + spec["requests"]) * size
    pool = (texts * (wanted // len(texts) + 1))[:wanted]
    batches = [pool[i * size : (i + 1) * size] for i in range(spec["warmup"] + spec["requests"])]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        start = time.perf_counter()
        for batch in batches[: spec["warmup"]]:
            model.encode(batch, batch_size=size)
        warm = time.perf_counter() - start
        start = time.perf_counter()
        for batch in batches[spec["warmup"] :]:
            model.encode(batch, batch_size=size)
        elapsed = time.perf_counter() - start
    return {"texts_per_second": spec["requests"] * size / elapsed, "warmup_seconds": warm}


def main() -> None:
    parser = variant_parser(__doc__, batch_size=None)
    parser.add_argument("--requests", type=int, default=100, help="Timed batches per variant and size.")
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="Repeatable (default: sdpa, eager).")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--texts", choices=("evaluation", "anchors"), default="evaluation")
    args = parse_or_work(parser, _worker)
    if args is None:
        return
    variants = args.variant or ["sdpa", "eager"]
    if "sdpa" not in variants:
        variants.insert(0, "sdpa")
    base = {"model": args.model, "data": args.data, "requests": args.requests, "warmup": args.warmup,
            "texts": args.texts}  # fmt: skip
    for size in args.batch_sizes:
        rates = {}
        for variant in variants:
            result = run_fresh(__file__, {**base, "variant": variant, "batch_size": size}, f"{variant} @ {size}")
            rates[variant] = result["texts_per_second"]
            ratio = rates[variant] / rates["sdpa"]
            print(
                f"batch {size:3d}  {variant:9s} {rates[variant]:7.1f} texts/s  {ratio:.2f}x sdpa"
                f"  (warm-up {result['warmup_seconds']:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
