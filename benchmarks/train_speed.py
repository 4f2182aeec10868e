"""Training speed and memory: plain sentence-transformers + PEFT vs cardiolora's default path, and
GradCache vs a plain batch, each measured in a fresh process, side by side in one run.

    .venv/bin/python benchmarks/train_speed.py --model minilm --steps 20

1. The plain recipe: SentenceTransformerTrainer with a PEFT LoRA adapter (r=16, alpha=32, dropout 0.1,
   on all linear layers as cardiolora's default), InfoNCE (MultipleNegativesRankingLoss, scale 20),
   fp32, max length 128, batch 64, lr 5e-4, the same pairs (those with a hard negative, with it, when
   most have one). This is what a user writes from the sentence-transformers documentation.
2. cardiolora's default path (`cardiolora train`, same batch and steps): its recommended objective,
   texts capped at 64 tokens (a batch pads to its longest text), and bf16 autocast where the CPU
   runs bf16 natively (`--precision auto`, the default).
3. The same with the base model's own dropout off (`--set base_dropout=0`, a recipe change).
4. GradCache (`--loss cached-infonce`) at batch 256 in mini-batches of 32 vs plain InfoNCE at batch 32,
   both without the teacher term (GradCache has none).

Prints pairs per second and peak RSS (the process's own maximum resident set) of each, and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from fresh_process import run_fresh

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _worker(spec: dict) -> dict:
    """Train ``spec['steps']`` steps as ``spec['kind']`` says; return throughput and peak RSS."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    if spec["kind"] == "plain":
        from datasets import Dataset
        from peft import LoraConfig
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        from cardiolora.data import load_pairs
        from cardiolora.models import resolve_model

        pairs = load_pairs(spec["data"])
        # MultipleNegativesRankingLoss takes a negative column only when every row has one; the
        # recommended data lacks it on a handful of rows, and a user who built hard negatives trains
        # with them (as cardiolora does), so those rows are left out rather than the column.
        with_negative = [p for p in pairs if p.negative]
        if len(with_negative) >= len(pairs) // 2:
            pairs = with_negative
        model = SentenceTransformer(str(resolve_model(spec["model"]).path), device="cpu")
        model.max_seq_length = 128
        model.add_adapter(LoraConfig(r=16, lora_alpha=32, lora_dropout=0.1, target_modules="all-linear"))
        columns = {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}
        if all(p.negative for p in pairs):
            columns["negative"] = [p.negative for p in pairs]
        args = SentenceTransformerTrainingArguments(
            output_dir=spec["out"], max_steps=spec["steps"], per_device_train_batch_size=spec["batch_size"],
            learning_rate=5e-4, warmup_steps=0.1, weight_decay=0.01, save_strategy="no", report_to="none",
            disable_tqdm=True, seed=0, use_cpu=True,
        )  # fmt: skip
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=Dataset.from_dict(columns),
            loss=MultipleNegativesRankingLoss(model, scale=20.0),
        )  # fmt: skip
        start = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - start
    else:
        from cardiolora.training import build_config
        from cardiolora.training.trainer import train

        values = {"model": spec["model"], "data": spec["data"], "out": spec["out"], "max_steps": spec["steps"],
                  "batch_size": spec["batch_size"], "report_to": [], "save_steps": 10_000, "eval_resamples": 100,
                  **spec.get("overrides", {})}  # fmt: skip
        result = train(build_config(values), log=lambda *_: None)
        elapsed = result.metrics["training"]["seconds"]
    rows = spec["steps"] * spec["batch_size"]
    return {"pairs_per_second": rows / elapsed, "seconds": elapsed,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data", type=Path, help="Pairs JSONL (default: the recommended ontology recipe).")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    from rich.console import Console
    from rich.table import Table

    from cardiolora.embedding.embedder import bf16_supported

    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from cardiolora.data import build_ontology_dataset

            with console.status("building the recommended ontology pairs"):
                data = build_ontology_dataset(Path(tmp) / "pairs.jsonl", sources=["hpo", "icd10cm"]).path
        base = {"model": args.model, "data": str(data), "steps": args.steps}
        precision = "bf16" if bf16_supported("cpu") else "fp32"
        runs = {
            "plain ST + PEFT (fp32, InfoNCE)": {**base, "kind": "plain", "batch_size": args.batch_size},
            f"cardiolora train (defaults: {precision})": {**base, "kind": "ours", "batch_size": args.batch_size},
            "the defaults, base model's dropout off": {
                **base,
                "kind": "ours",
                "batch_size": args.batch_size,
                "overrides": {"base_dropout": 0.0},
            },
            # GradCache has no teacher term (training refuses the two together), so both sides of this
            # memory comparison go without it.
            "InfoNCE, batch 32": {
                **base,
                "kind": "ours",
                "batch_size": 32,
                "overrides": {"loss": {"name": "infonce", "teacher_weight": 0.0}},
            },
            "GradCache, batch 256 (mini-batch 32)": {
                **base,
                "kind": "ours",
                "batch_size": 256,
                "steps": max(2, args.steps // 4),
                "overrides": {"loss": {"name": "cached-infonce", "mini_batch_size": 32, "teacher_weight": 0.0}},
            },
        }
        results = {}
        for name, spec in runs.items():
            with console.status(f"training: {name}"):
                results[name] = run_fresh(__file__, {**spec, "out": str(Path(tmp) / name.split()[0])}, name)

    names = list(results)
    table = Table(title=f"{args.model}: {args.steps} steps, each run in a fresh process")
    for column in ("run", "pairs/s", "peak RSS MiB"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for name, result in results.items():
        table.add_row(name, f"{result['pairs_per_second']:.1f}", f"{result['peak_rss_mib']:,.0f}")
    console.print(table)
    plain, ours, no_dropout, small, cached = (results[n] for n in names)
    console.print(f"cardiolora ({precision}) vs plain: "
                  f"{ours['pairs_per_second'] / plain['pairs_per_second']:.2f}x pairs/s, "
                  f"{ours['peak_rss_mib'] / plain['peak_rss_mib']:.2f}x peak RSS")  # fmt: skip
    console.print(f"with the base model's dropout off (base_dropout=0) vs plain: "
                  f"{no_dropout['pairs_per_second'] / plain['pairs_per_second']:.2f}x pairs/s "
                  f"({no_dropout['pairs_per_second'] / ours['pairs_per_second']:.2f}x the defaults)")  # fmt: skip
    console.print(f"GradCache batch 256 vs plain batch 32: "
                  f"{cached['peak_rss_mib'] / small['peak_rss_mib']:.2f}x peak RSS "
                  f"for an 8x larger effective batch")  # fmt: skip


if __name__ == "__main__":
    main()
