"""Screen many training recipes quickly (on a GPU where one is lent), each judged on more than one number.

    python docs/experiments/recipe_sweep.py VARIANTS.json RESULTS.jsonl [--model minilm] [--runs DIR]
    python docs/experiments/recipe_sweep.py --table RESULTS.jsonl     # the results as a Markdown table

VARIANTS.json: ``{"base": {...TrainConfig values...}, "variants": [{"name": ..., "set": {...}}, ...]}``;
each variant's ``set`` is merged into ``base`` (nested tables key by key) and trained with
:func:`cardiolora.training.train`. Every run is then scored on the bundled cardiology, pulmonology
and nephrology sets (separation, ROC-AUC, negation accuracy, similar/different means) and on
retrieval over the cardiology set (each similar or paraphrase pair's first text queries for the
second among all the set's texts, exact cosine ranking; MRR@10, R@5), the same task and code as
``cardiolora evaluate-retrieval -e cardiology`` (:mod:`cardiolora.evaluation.retrieval`). One JSON
line per variant goes to RESULTS.jsonl as soon as it is done; variants already there are skipped,
so an interrupted sweep resumes.

Screening only: GPU kernels differ from CPU ones, so a recipe worth keeping is re-run with
``cardiolora train`` on the CPU, and those are the numbers docs/recipes.md reports.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def retrieval_scores(embedder, eval_set) -> dict[str, float]:
    from cardiolora.evaluation.retrieval import evaluate_eval_set_retrieval

    metrics = evaluate_eval_set_retrieval(embedder, eval_set, (1, 5, 10)).scores
    return {k: round(v, 4) for k, v in metrics.items()}


def score(embedder, eval_sets) -> dict:
    from cardiolora.evaluation import evaluate_embedder

    report = evaluate_embedder(embedder, eval_sets, n_resamples=100).to_dict()
    row = {}
    for evaluation in report["evaluations"]:
        cats = evaluation["categories"]
        row[evaluation["eval_set"]["name"]] = {
            "separation": round(evaluation["separation"], 4),
            "auc": round(evaluation["auc"], 4),
            "negation_accuracy": evaluation["negation_accuracy"],
            "similar": round(cats["similar"]["mean"], 4),
            "different": round(cats["different"]["mean"], 4),
        }
    row["retrieval"] = retrieval_scores(embedder, eval_sets[0])
    return row


def markdown_table(results: Path) -> str:
    head = (
        "| variant | separation | ROC-AUC | neg. acc. | similar / different | MRR@10 / R@5 "
        "| pulmonology sep. / AUC | nephrology sep. | steps |"
    )
    lines = [head, "|" + "---|" * 9]
    for line in results.read_text().splitlines():
        row = json.loads(line)
        if "error" in row:
            lines.append(f"| {row['name']} | failed: {row['error'][:80]} |" + " |" * 7)
            continue
        c, p, n, r = row["cardiology"], row["pulmonology"], row["nephrology"], row["retrieval"]
        lines.append(
            f"| {row['name']} | {c['separation']:.3f} | {c['auc']:.3f} | {c['negation_accuracy']:.2f} "
            f"| {c['similar']:.3f} / {c['different']:.3f} | {r['mrr@10']:.3f} / {r['recall@5']:.3f} "
            f"| {p['separation']:.3f} / {p['auc']:.3f} | {n['separation']:.3f} | {row.get('steps', '')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="Print RESULTS.jsonl as a Markdown table and stop.")
    parser.add_argument("variants", type=Path, nargs="?")
    parser.add_argument("results", type=Path, nargs="?")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--runs", type=Path, default=Path("runs/sweep"))
    args = parser.parse_args()
    if args.table:
        print(markdown_table(args.table))
        return
    if args.variants is None or args.results is None:
        parser.error("VARIANTS.json and RESULTS.jsonl are needed (or --table RESULTS.jsonl)")

    import torch

    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import load_eval_set
    from cardiolora.training import build_config, train
    from cardiolora.training.config import merge_overrides

    spec = json.loads(args.variants.read_text())
    done = set()
    if args.results.exists():
        done = {json.loads(line)["name"] for line in args.results.read_text().splitlines() if line.strip()}
    eval_sets = [load_eval_set(name) for name in ("cardiology", "pulmonology", "nephrology")]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"

    def write(row: dict) -> None:
        with args.results.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    if "zero-shot" not in done:
        write({"name": "zero-shot", "device": device, **score(Embedder.load(args.model), eval_sets)})
    for variant in spec["variants"]:
        if variant["name"] in done:
            continue
        values = merge_overrides(spec["base"], variant.get("set", {}))
        values |= {"model": args.model, "out": str(args.runs / variant["name"])}
        started = time.perf_counter()
        try:
            result = train(build_config(values), overwrite=True, evaluate_zero_shot=False, log=lambda *_: None)
        except Exception as error:  # a screening run that fails is a result too
            write({"name": variant["name"], "set": variant.get("set", {}), "error": repr(error)})
            continue
        seconds = time.perf_counter() - started
        embedder = Embedder.load(args.model, adapter=result.adapter_dir)
        write({"name": variant["name"], "set": variant.get("set", {}), "device": device,
               "seconds": round(seconds, 1), "steps": result.metrics["training"]["global_step"],
               **score(embedder, eval_sets)})  # fmt: skip


if __name__ == "__main__":
    main()
