"""Where a training step's time goes, and what the levers issue 24 names buy, side by side in one run.

    .venv/bin/python benchmarks/train_step_levers.py --model minilm --data data/cardio-recommended.jsonl

Each variant runs in a fresh process: the step of `cardiolora train` as it was before
``base_dropout = 0`` became its default, written as a plain loop (LoRA r 16 on all linear layers, batch 64 of
anchor / positive / negative texts capped at 64 tokens, bf16 autocast, transformers' eager attention
as ``attention=auto`` picks on a CPU, the model in training mode as the trainer puts it, so the base
model's own dropout runs; InfoNCE over the batch; the cached teacher and the cosine term cost next
to nothing and are left out), timed per step after ``--warmup`` steps:

- ``default``: the loop as it is;
- ``sdpa``: the model's default attention (PyTorch's scaled-dot-product kernels), as plain
  sentence-transformers loads it;
- ``no-dropout``: the base model's dropout layers (hidden and attention, 0.1 in BERT) set to 0
  (a recipe change; ``cardiolora train``'s default since 2026-12-07, after this benchmark chose it);
- ``compile``: the encoder under ``torch.compile(dynamic=True)`` (inductor); its first steps include
  the compilation, reported apart;
- ``fp32``: no autocast;
- ``qv``: LoRA on the attention query and value only (a recipe change, not a free speed-up);
- ``upper-half``: the base model's dropout off (as ``no-dropout``) and LoRA on every linear layer of
  the upper half of the encoder's layers only (``peft.upper_layers = 0.5``): backward stops where
  the lowest adapted layer begins (a recipe change; compare it with ``no-dropout``, today's default step).

It prints, per variant, seconds per step (mean over the timed steps), the first steps' seconds, and
for the default loop the split into tokenizing, forward, backward and optimizer, then each variant's
speed as a ratio of the default.
"""

from __future__ import annotations

import os
import time

from fresh_process import parse_or_work, run_fresh, variant_parser

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VARIANTS = ("default", "sdpa", "no-dropout", "compile", "fp32", "qv", "upper-half")


def _worker(spec: dict) -> dict:
    import random

    import torch
    import transformers
    from peft import LoraConfig
    from sentence_transformers import SentenceTransformer

    from cardiolora.data import load_pairs
    from cardiolora.models import resolve_model
    from cardiolora.training.config import PeftSettings
    from cardiolora.training.peft_methods import peft_config
    from cardiolora.training.trainer import set_dropout

    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    pairs = [p for p in load_pairs(spec["data"]) if p.negative]
    random.Random(0).shuffle(pairs)
    attention = "sdpa" if spec["variant"] == "sdpa" else "eager"
    model = SentenceTransformer(
        str(resolve_model(spec["model"]).path), device="cpu", model_kwargs={"attn_implementation": attention}
    )
    model.max_seq_length = 64
    targets = ["query", "value"] if spec["variant"] == "qv" else "all-linear"
    if spec["variant"] in ("no-dropout", "upper-half"):
        set_dropout(model, 0.0)  # before the adapter, as `cardiolora train` does
    if spec["variant"] == "upper-half":  # built as `cardiolora train --set peft.upper_layers=0.5` builds it
        settings = PeftSettings(r=16, alpha=32, dropout=0.0, upper_layers=0.5)
        layers = model[0].auto_model.config.num_hidden_layers
        model.add_adapter(peft_config(settings, "all-linear", spec["steps"], layers))
    else:
        model.add_adapter(LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=targets))
    # transformers loads a model in eval mode; the trainer trains it in training mode, where dropout
    # runs (and where sdpa's CPU kernels differ): timing the other mode times another step.
    model.train()
    if spec["variant"] == "compile":
        # sentence-transformers 6 calls the Transformer module's ``model``; compiling ``auto_model``
        # would compile nothing that runs.
        model[0].model = torch.compile(model[0].model, dynamic=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    autocast = spec["variant"] != "fp32"
    batch = spec["batch_size"]
    parts = {"tokenize": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    steps = []
    for step in range(spec["warmup"] + spec["steps"]):
        rows = pairs[step * batch : (step + 1) * batch]
        t0 = time.perf_counter()
        features = [model.tokenize([getattr(p, side) for p in rows]) for side in ("anchor", "positive", "negative")]
        t1 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            a, pos, neg = (torch.nn.functional.normalize(model(f)["sentence_embedding"], dim=-1) for f in features)
            scores = a @ torch.cat([pos, neg]).T / 0.3
            loss = torch.nn.functional.cross_entropy(scores.float(), torch.arange(len(rows)))
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        t4 = time.perf_counter()
        steps.append(t4 - t0)
        if step >= spec["warmup"]:
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                parts[name] += seconds / spec["steps"]
    timed = steps[spec["warmup"] :]
    return {
        "variant": spec["variant"],
        "seconds_per_step": sum(timed) / len(timed),
        "first_steps_seconds": sum(steps[: spec["warmup"]]),
        "parts": parts,
    }


def main() -> None:
    parser = variant_parser(__doc__, batch_size=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="Run only these (repeatable).")
    parser.add_argument("--out", help="Write the results as JSON here too.")
    args = parse_or_work(parser, _worker)
    if args is None:
        return
    from rich.progress import track

    base = {"model": args.model, "data": args.data, "steps": args.steps, "warmup": args.warmup,
            "batch_size": args.batch_size}  # fmt: skip
    variants = args.variant or list(VARIANTS)
    results = [
        run_fresh(__file__, {**base, "variant": v}, v)
        for v in track(variants, description="variants, one process each")
    ]
    default = next((r for r in results if r["variant"] == "default"), None)
    print(f"{args.model}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup}:")
    for r in results:
        ratio = f"{default['seconds_per_step'] / r['seconds_per_step']:.2f}x default" if default else ""
        print(f"  {r['variant']:10s} {r['seconds_per_step']:.3f} s/step  (first {args.warmup}: "
              f"{r['first_steps_seconds']:.1f} s)  {ratio}")  # fmt: skip
    if default:
        split = ", ".join(f"{k} {v:.3f} s" for k, v in default["parts"].items())
        print(f"  default step: {split}")
    if args.out:
        from cardiolora.io import write_json_atomic

        write_json_atomic(args.out, {"settings": base, "results": results})


if __name__ == "__main__":
    main()
