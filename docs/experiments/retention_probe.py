"""Train one recipe and judge it on every bundled set: the target gain and what it cost elsewhere.

    python docs/experiments/retention_probe.py run NAME [--scale S ...] -- TRAIN_ARGS...
    python docs/experiments/retention_probe.py score NAME [--scale S ...]   # re-score an existing run
    python docs/experiments/retention_probe.py table NAME [NAME ...]        # Markdown rows of docs/recipes.md
    python docs/experiments/retention_probe.py detail NAME                  # every set of one run

``run`` calls ``cardiolora train --model minilm --out runs/NAME --report-to none TRAIN_ARGS`` (timed
with the wall clock), then, for the adapter at scale 1 and at every ``--scale``,
``cardiolora evaluate --adapter runs/NAME/adapter [--adapter-scale S] --out runs/NAME/eval-S.json``
(every bundled set, zero-shot beside adapted) and
``cardiolora evaluate-retrieval -m minilm -a runs/NAME/adapter -e cardiology --out
runs/NAME/retrieval-S.json``. Only the command line is used, so every number in the table is what a
user would get from the same commands.

The table has, per (run, scale): cardiology separation (gain over zero-shot), ROC-AUC, negation
accuracy, retrieval MRR@10 (zero-shot in the header), then for the non-target sets the worst and the
mean change of separation and of ROC-AUC, the number of sets harmed (a fall of more than 0.01 in
either), and the training wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RUNS = Path("runs")
CLI = str(Path(sys.executable).parent / "cardiolora")


def _scale_tag(scale: float) -> str:
    return f"{scale:g}"


def score(name: str, scales: list[float]) -> None:
    adapter = RUNS / name / "adapter"
    for scale in [1.0, *scales]:
        tag = _scale_tag(scale)
        scale_args = ["--adapter-scale", str(scale)] if scale != 1.0 else []
        subprocess.run([CLI, "evaluate", "--model", "minilm", "--adapter", str(adapter), *scale_args,
                        "--n-resamples", "1000", "--out", str(RUNS / name / f"eval-{tag}.json")],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        retrieval = RUNS / name / f"retrieval-{tag}.json"
        if scale == 1.0:  # evaluate-retrieval takes no scale; the scaled adapter is scored by evaluate only
            subprocess.run([CLI, "evaluate-retrieval", "-m", "minilm", "-a", str(adapter), "-e", "cardiology",
                            "--out", str(retrieval)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip


def run(name: str, train_args: list[str], scales: list[float]) -> None:
    started = time.perf_counter()
    subprocess.run([CLI, "train", "--model", "minilm", "--out", str(RUNS / name), "--report-to", "none", *train_args],
                   check=True)  # fmt: skip
    (RUNS / name / "wall_seconds.txt").write_text(f"{time.perf_counter() - started:.0f}\n")
    score(name, scales)


def _row(name: str, tag: str) -> str | None:
    path = RUNS / name / f"eval-{tag}.json"
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    target = next(e for e in result["evaluations"] if e["eval_set"]["name"] == "cardiology")
    base = next(e for e in result["zero_shot"] if e["eval_set"]["name"] == "cardiology")
    rows = result["retention"]
    sep = [r["separation_change"] for r in rows]
    auc = [r["auc_change"] for r in rows]
    harmed = [r["eval_set"] for r in rows if r["harmed"]]
    retrieval_file = RUNS / name / f"retrieval-{tag}.json"
    mrr = json.loads(retrieval_file.read_text())["metrics"]["mrr@10"] if retrieval_file.exists() else None
    wall = RUNS / name / "wall_seconds.txt"
    minutes = f"{int(wall.read_text()) / 60:.1f} min" if wall.exists() and tag == "1" else ""
    return (
        f"| {name}{'' if tag == '1' else f' @ scale {tag}'} | {target['separation']:.3f} "
        f"({target['separation'] - base['separation']:+.3f}) | {target['auc']:.3f} | "
        f"{target['negation_accuracy']:.3f} | "
        f"{'' if mrr is None else f'{mrr:.3f}'} | {min(sep):+.3f} / {sum(sep) / len(sep):+.3f} | "
        f"{min(auc):+.3f} / {sum(auc) / len(auc):+.3f} | {len(harmed)}: {', '.join(harmed) or '-'} | {minutes} |"
    )


def table(names: list[str]) -> str:
    lines = ["| run | cardiology separation (gain) | ROC-AUC | neg. acc. | MRR@10 | other sets: separation change "
             "worst / mean | ROC-AUC change worst / mean | harmed (> 0.01 fall) | train wall time |",
             "|" + "---|" * 9]  # fmt: skip
    for name in names:
        tags = sorted(
            (p.stem.removeprefix("eval-") for p in (RUNS / name).glob("eval-*.json")), key=float, reverse=True
        )
        lines += [row for tag in tags if (row := _row(name, tag))]
    return "\n".join(lines)


def detail(name: str, tag: str = "1") -> str:
    """Every bundled set of one run: zero-shot and adapted separation and ROC-AUC."""
    result = json.loads((RUNS / name / f"eval-{tag}.json").read_text())
    before = {e["eval_set"]["name"]: e for e in result["zero_shot"]}
    lines = ["| eval set | separation zero-shot -> adapted | ROC-AUC zero-shot -> adapted |", "|---|---|---|"]
    for after in result["evaluations"]:
        base = before[after["eval_set"]["name"]]
        lines.append(f"| {after['eval_set']['name']} | {base['separation']:.3f} -> {after['separation']:.3f} "
                     f"({after['separation'] - base['separation']:+.3f}) | {base['auc']:.3f} -> {after['auc']:.3f} "
                     f"({after['auc'] - base['auc']:+.3f}) |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "score", "table", "detail"])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--scale", type=float, action="append", default=[])
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, rest = parser.parse_args(argv[:split]), argv[split + 1 :]
    if args.action == "run":
        run(args.names[0], rest, args.scale)
    elif args.action == "score":
        score(args.names[0], args.scale)
    elif args.action == "detail":
        print(detail(args.names[0]))
    else:
        print(table(args.names))


if __name__ == "__main__":
    main()
