"""Retention: does an adapter for one specialty leave the others as the base model had them?

An adapter trained on cardiology is only worth deploying if it does no harm elsewhere: notes mix
specialties, and a search or clustering system built on the adapted model sees all of them. For each
evaluation set that is not the adapter's target, the retention table puts the zero-shot (base model)
separation and ROC-AUC beside the adapted ones and flags every fall larger than ``tolerance``.

Example::

    from cardiolora.evaluation import retention_table

    rows = retention_table(zero_shot_report, adapted_report, target="cardiology")
    harmed = [row.eval_set for row in rows if row.harmed]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

# A fall of more than this in separation or ROC-AUC on a non-target set counts as harm.
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class RetentionRow:
    """One non-target evaluation set, zero-shot against adapted."""

    eval_set: str
    separation_zero_shot: float | None
    separation_adapted: float | None
    auc_zero_shot: float | None
    auc_adapted: float | None
    tolerance: float = DEFAULT_TOLERANCE

    @staticmethod
    def _change(before: float | None, after: float | None) -> float | None:
        return None if before is None or after is None else after - before

    @property
    def separation_change(self) -> float | None:
        return self._change(self.separation_zero_shot, self.separation_adapted)

    @property
    def auc_change(self) -> float | None:
        return self._change(self.auc_zero_shot, self.auc_adapted)

    @property
    def harmed(self) -> bool:
        """Separation or ROC-AUC fell by more than the tolerance."""
        return any(
            change is not None and change < -self.tolerance for change in (self.separation_change, self.auc_change)
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RetentionRow:
        """A row from its :meth:`to_dict` (the derived entries are recomputed, not read)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

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
        rows.append(
            RetentionRow(
                eval_set=name,
                separation_zero_shot=before[name].get("separation"),
                separation_adapted=after.get("separation"),
                auc_zero_shot=before[name].get("auc"),
                auc_adapted=after.get("auc"),
                tolerance=tolerance,
            )
        )
    return rows


def retention_warnings(rows: Iterable[RetentionRow]) -> list[str]:
    """One sentence per harmed set, naming what fell and by how much."""
    messages = []
    for row in rows:
        if not row.harmed:
            continue
        falls = [
            f"{label} {before:.3f} -> {after:.3f} ({after - before:+.3f})"
            for label, before, after in (
                ("separation", row.separation_zero_shot, row.separation_adapted),
                ("ROC-AUC", row.auc_zero_shot, row.auc_adapted),
            )
            if before is not None and after is not None and after - before < -row.tolerance
        ]
        messages.append(f"{row.eval_set}: the adapter is worse than the base model: {', '.join(falls)}")
    return messages
