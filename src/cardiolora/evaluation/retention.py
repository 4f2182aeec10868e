"""Retention: does an adapter for one specialty leave the others as the base model had them?

An adapter trained on cardiology is only worth deploying if it does no harm elsewhere: notes mix
specialties, and a search or clustering system built on the adapted model sees all of them. For each
evaluation set that is not the adapter's target, the retention table puts the zero-shot (base model)
separation and ROC-AUC beside the adapted ones, with a paired bootstrap CI of each change
(:mod:`cardiolora.evaluation.paired`), and flags harm: a change whose CI lies below zero and that is
worse than ``-tolerance`` (0.02). Evaluations without per-pair cosines (older results) have no CI;
there a fall beyond the tolerance alone counts.

Example::

    from cardiolora.evaluation import retention_table

    rows = retention_table(zero_shot_report, adapted_report, target="cardiology")
    harmed = [row.eval_set for row in rows if row.harmed]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from cardiolora.evaluation.paired import HARM_MARGIN, paired_changes

# A fall of more than this in separation or ROC-AUC on a non-target set, with a CI below zero, is harm.
DEFAULT_TOLERANCE = HARM_MARGIN


@dataclass(frozen=True)
class RetentionRow:
    """One non-target evaluation set, zero-shot against adapted."""

    eval_set: str
    separation_zero_shot: float | None
    separation_adapted: float | None
    auc_zero_shot: float | None
    auc_adapted: float | None
    tolerance: float = DEFAULT_TOLERANCE
    separation_change_ci: tuple[float, float] | None = None
    auc_change_ci: tuple[float, float] | None = None

    @staticmethod
    def _change(before: float | None, after: float | None) -> float | None:
        return None if before is None or after is None else after - before

    @property
    def separation_change(self) -> float | None:
        return self._change(self.separation_zero_shot, self.separation_adapted)

    @property
    def auc_change(self) -> float | None:
        return self._change(self.auc_zero_shot, self.auc_adapted)

    def _fell(self, change: float | None, ci: tuple[float, float] | None) -> bool:
        return change is not None and change < -self.tolerance and (ci is None or ci[1] < 0)

    @property
    def harmed(self) -> bool:
        """Separation or ROC-AUC fell by more than the tolerance, with its paired CI below zero."""
        return self._fell(self.separation_change, self.separation_change_ci) or self._fell(
            self.auc_change, self.auc_change_ci
        )

    def fell(self) -> dict[str, bool]:
        """Which of separation and ROC-AUC fell (harm, per metric)."""
        return {
            "separation": self._fell(self.separation_change, self.separation_change_ci),
            "ROC-AUC": self._fell(self.auc_change, self.auc_change_ci),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RetentionRow:
        """A row from its :meth:`to_dict` (the derived entries are recomputed, not read)."""
        kept = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        for name in ("separation_change_ci", "auc_change_ci"):
            if kept.get(name) is not None:
                kept[name] = tuple(kept[name])
        return cls(**kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "separation_change": self.separation_change,
            "auc_change": self.auc_change,
            "harmed": self.harmed,
        }


def _by_set(evaluations: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Evaluations keyed by set name: a results.json ``evaluations`` list, or a run's ``{name: summary}``."""
    if isinstance(evaluations, Mapping):
        return dict(evaluations)
    return {e["eval_set"]["name"]: e for e in evaluations}


def retention_table(
    zero_shot: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]],
    adapted: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]],
    *,
    target: str | Iterable[str] = "cardiology",
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[RetentionRow]:
    """A row for every set evaluated both zero-shot and adapted, except the ``target`` set(s), in the
    adapted evaluations' order."""
    targets = {target} if isinstance(target, str) else set(target)
    before = _by_set(zero_shot)
    rows = []
    for name, after in _by_set(adapted).items():
        if name in targets or name not in before:
            continue
        cis = _change_cis(before[name], after)
        rows.append(
            RetentionRow(
                eval_set=name,
                separation_zero_shot=before[name].get("separation"),
                separation_adapted=after.get("separation"),
                auc_zero_shot=before[name].get("auc"),
                auc_adapted=after.get("auc"),
                tolerance=tolerance,
                separation_change_ci=cis.get("separation"),
                auc_change_ci=cis.get("auc"),
            )
        )
    return rows


def _change_cis(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Paired CIs of the changes, where both evaluations kept their per-pair cosines."""
    needed = ("pair_cosines", "pair_categories")
    if (
        not all(key in before and key in after for key in needed)
        or before["pair_categories"] != after["pair_categories"]
    ):
        return {}
    changes = paired_changes(before["pair_categories"], before["pair_cosines"], after["pair_cosines"])
    return {name: (change.low, change.high) for name, change in changes.items()}


def retention_warnings(rows: Iterable[RetentionRow]) -> list[str]:
    """One sentence per harmed set, naming what fell and by how much."""
    messages = []
    for row in rows:
        if not row.harmed:
            continue
        falls = []
        for label, before, after, ci in (
            ("separation", row.separation_zero_shot, row.separation_adapted, row.separation_change_ci),
            ("ROC-AUC", row.auc_zero_shot, row.auc_adapted, row.auc_change_ci),
        ):
            if before is not None and after is not None and row.fell()[label]:
                interval = f", 95% CI [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
                falls.append(f"{label} {before:.3f} -> {after:.3f} ({after - before:+.3f}{interval})")
        messages.append(f"{row.eval_set}: the adapter is worse than the base model: {', '.join(falls)}")
    return messages


@dataclass(frozen=True)
class RunsRetentionRow:
    """One evaluation set over several runs of one recipe (seeds): each metric's change averaged over
    the runs, with the paired CI of that average (:func:`cardiolora.evaluation.paired.paired_changes`)."""

    eval_set: str
    runs: int
    separation_change: float
    separation_change_ci: tuple[float, float]
    auc_change: float
    auc_change_ci: tuple[float, float]
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def harmed(self) -> bool:
        return any(
            change < -self.tolerance and ci[1] < 0
            for change, ci in (
                (self.separation_change, self.separation_change_ci),
                (self.auc_change, self.auc_change_ci),
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "harmed": self.harmed}


def retention_over_runs(
    zero_shot: Iterable[Mapping[str, Any]],
    runs: list[Iterable[Mapping[str, Any]]],
    *,
    target: str | Iterable[str] = "cardiology",
    tolerance: float = DEFAULT_TOLERANCE,
    include_target: bool = False,
) -> list[RunsRetentionRow]:
    """The harm rule judged over several runs of one recipe: for every set the runs all evaluated
    with per-pair cosines (results.json ``evaluations``, a run's ``final.json``), the change of
    separation and ROC-AUC over the base model averaged over the runs, with a paired bootstrap CI.
    ``include_target`` keeps the target set(s) too (their gain, judged the same way)."""
    targets = {target} if isinstance(target, str) else set(target)
    before = _by_set(zero_shot)
    adapted = [_by_set(run) for run in runs]
    rows = []
    for name, base in before.items():
        if (name in targets and not include_target) or "pair_cosines" not in base:
            continue
        if not all(name in run and run[name].get("pair_categories") == base.get("pair_categories") for run in adapted):
            continue
        changes = paired_changes(
            base["pair_categories"], base["pair_cosines"], [run[name]["pair_cosines"] for run in adapted]
        )
        if not changes:
            continue
        sep, auc = changes["separation"], changes["auc"]
        rows.append(
            RunsRetentionRow(
                name, len(adapted), sep.change, (sep.low, sep.high), auc.change, (auc.low, auc.high), tolerance
            )
        )
    return rows
