"""Is recipe B better than recipe A on the same evaluation pairs? Paired bootstrap CIs from saved cosines.

    .venv/bin/python docs/experiments/paired_runs.py A.json [A2.json ...] --vs B.json [B2.json ...]

Each argument is a run directory (its ``final.json``) or the JSON that ``cardiolora evaluate --out``
wrote. Nothing is embedded again: the evaluations keep every pair's cosine and every normalisation
query's rank. For each evaluation set the two sides share, per form (term-term, sentence-sentence,
term-description) and overall, it prints the ROC-AUC of A and of B and B - A with a paired 95% CI
(:func:`cardiolora.evaluation.paired.paired_changes`: the pairs are resampled once per draw for both
sides). With several runs on a side (seeds), each side's cosines are averaged over its runs
before the comparison: the CI then covers the pairs' sampling noise of the seed-averaged change, not
the seeds' own spread, which the per-run columns show. Normalisation sets: top-1 of each side and
B - A with a paired CI over descriptions (each description's top-1 hit averaged over a side's runs).

A change is read as real only when its CI excludes zero (DEVELOPERS.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cardiolora.evaluation.evalset import load_eval_set
from cardiolora.evaluation.metrics import roc_auc
from cardiolora.evaluation.paired import paired_changes


def _evaluations(path: Path) -> tuple[dict[str, dict], dict[str, list[int]]]:
    source = path / "final.json" if path.is_dir() else path
    data = json.loads(source.read_text())
    sets = {e["eval_set"]["name"]: e for e in data.get("evaluations", []) if "pair_cosines" in e}
    ranks = {n["normalisation_set"]["name"]: n["ranks"] for n in data.get("normalisation", []) if "ranks" in n}
    if not sets and not ranks:
        raise SystemExit(f"{source}: no per-pair cosines or normalisation ranks in it")
    return sets, ranks


def _auc(cosines: np.ndarray, categories: np.ndarray, keep: np.ndarray) -> float:
    return roc_auc(cosines[keep & (categories == "similar")], cosines[keep & (categories == "different")])


def _paired_mean_change(before: np.ndarray, after: np.ndarray, n_resamples: int = 2000) -> tuple[float, float, float]:
    """Mean of ``after - before`` over queries, with a bootstrap 95% CI resampling the queries."""
    diffs = after - before
    draws = np.random.default_rng(0).integers(0, diffs.size, (n_resamples, diffs.size))
    low, high = np.quantile(diffs[draws].mean(axis=1), [0.025, 0.975])
    return float(diffs.mean()), float(low), float(high)


def compare(side_a: list[Path], side_b: list[Path]) -> list[str]:
    loaded_a = [_evaluations(p) for p in side_a]
    loaded_b = [_evaluations(p) for p in side_b]
    lines = ["| set | part | A ROC-AUC (runs) | B ROC-AUC (runs) | B - A [95% CI] |", "|---|---|---|---|---|"]
    shared = set.intersection(*(set(s) for s, _ in loaded_a + loaded_b))
    for name in sorted(shared):
        first = loaded_a[0][0][name]
        eval_set = load_eval_set(first["eval_set"]["path"])
        if eval_set.sha256 != first["eval_set"]["sha256"]:
            raise SystemExit(f"{name}: the set changed since these runs were evaluated (sha256 differs)")
        categories = np.asarray(first["pair_categories"])
        forms = np.asarray([p.form or "" for p in eval_set.pairs])
        a_runs = np.asarray([s[name]["pair_cosines"] for s, _ in loaded_a])
        b_runs = np.asarray([s[name]["pair_cosines"] for s, _ in loaded_b])
        parts = [(f, forms == f) for f in eval_set.forms()] + [("all", np.ones(len(forms), bool))]
        for part, keep in parts:
            keep_pairs = keep & np.isin(categories, ("similar", "different"))
            change = paired_changes(
                categories[keep_pairs], a_runs.mean(axis=0)[keep_pairs], b_runs.mean(axis=0)[keep_pairs]
            )["auc"]
            per_a = " / ".join(f"{_auc(run, categories, keep):.3f}" for run in a_runs)
            per_b = " / ".join(f"{_auc(run, categories, keep):.3f}" for run in b_runs)
            lines.append(
                f"| {name} | {part} | {per_a} | {per_b} | "
                f"{change.change:+.3f} [{change.low:+.3f}, {change.high:+.3f}] |"
            )
    shared_norm = set.intersection(*(set(r) for _, r in loaded_a + loaded_b))
    for name in sorted(shared_norm):
        hits_a = np.asarray([np.asarray(r[name]) <= 1 for _, r in loaded_a], dtype=float)
        hits_b = np.asarray([np.asarray(r[name]) <= 1 for _, r in loaded_b], dtype=float)
        change, low, high = _paired_mean_change(hits_a.mean(axis=0), hits_b.mean(axis=0))
        top_a = " / ".join(f"{row.mean():.3f}" for row in hits_a)
        top_b = " / ".join(f"{row.mean():.3f}" for row in hits_b)
        lines.append(
            f"| {name} (normalisation) | top-1 | {top_a} | {top_b} | {change:+.3f} [{low:+.3f}, {high:+.3f}] |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", nargs="+", type=Path, help="Run directories or evaluate JSONs of recipe A.")
    parser.add_argument("--vs", nargs="+", type=Path, required=True, help="The same for recipe B.")
    args = parser.parse_args()
    print("\n".join(compare(args.a, args.vs)))


if __name__ == "__main__":
    main()
