"""One table of training runs as docs/recipes.md reports them: per form ROC-AUC of the target set,
normalisation top-1, and the harm verdicts of the retention table (paired CIs), read from each run's
metrics.json.

    .venv/bin/python docs/experiments/summarize_runs.py runs/dev-baseline runs/dev-diseases ...

Rows are in the order given; a run without final metrics is skipped with a note.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summarize(run_dir: Path) -> str | None:
    path = run_dir / "metrics.json"
    if not path.exists():
        print(f"{run_dir}: no metrics.json (unfinished?)", file=sys.stderr)
        return None
    metrics = json.loads(path.read_text())
    final, before = metrics["final"], metrics.get("zero_shot") or {}
    target = next(iter(final))
    cells = [run_dir.name]
    for form in ("term-term", "sentence-sentence", "term-description"):
        after = (final[target].get("forms") or {}).get(form, {}).get("auc")
        base = ((before.get(target) or {}).get("forms") or {}).get(form, {}).get("auc")
        cells.append(f"{_fmt(base)} -> {_fmt(after)}")
    base = before.get(target) or {}
    cells.append(f"{_fmt(base.get('auc'))} -> {_fmt(final[target]['auc'])}")
    cells.append(f"{_fmt(base.get('negation_accuracy'))} -> {_fmt(final[target].get('negation_accuracy'))}")
    for name, entry in (metrics.get("normalisation") or {}).items():
        cells.append(f"{name}: {_fmt((entry.get('zero_shot') or {}).get('top1'))} -> {_fmt(entry['final']['top1'])}")
    changes = []
    for row in metrics.get("retention") or []:
        auc = row.get("auc_change")
        ci = row.get("auc_change_ci")
        mark = " HARMED" if row.get("harmed") else ""
        interval = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
        changes.append(f"{row['eval_set']} {auc:+.3f}{interval}{mark}" if auc is not None else row["eval_set"])
    cells.append("; ".join(changes))
    cells.append(f"{metrics['training']['seconds'] / 60:.1f} min, {metrics['training']['pairs']} pairs")
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str]) -> int:
    print(
        "| run | term-term ROC-AUC | sentence-sentence | term-description | all | negation acc. | normalisation top-1 "
        "| retention: ROC-AUC change [95% CI] | training |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for arg in argv:
        row = summarize(Path(arg))
        if row:
            print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
