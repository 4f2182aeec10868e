"""Read a study directory back into tables: one row per model, one per ablation cell."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.errors import CardioloraError


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _by_set(report: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {e["eval_set"]["name"]: e for e in (report or {}).get("evaluations", [])}


def retrieval_metric(evaluation: dict[str, Any] | None, metric: str) -> float | None:
    """``metric`` of an evaluation's ``retrieval`` block (the study scores its headline set as a
    retrieval task); None when the evaluation has none."""
    return ((evaluation or {}).get("retrieval") or {}).get(metric)


@dataclass
class ModelResult:
    name: str
    family: str | None
    parameters: int | None
    dimension: int | None
    zero_shot: dict[str, dict[str, Any]]
    adapted: dict[str, dict[str, Any]]
    bench: dict[str, Any] | None
    training: dict[str, Any] | None
    # The headline set's texts in 2-D, zero-shot and adapted (embedding_map.json; None for studies
    # evaluated before the map existed).
    embedding_map: dict[str, Any] | None = None

    def separation(self, eval_set: str, adapted: bool = True) -> float | None:
        return ((self.adapted if adapted else self.zero_shot).get(eval_set) or {}).get("separation")

    def retrieval(self, eval_set: str, metric: str, adapted: bool = True) -> float | None:
        """A retrieval metric (``mrr@10``, ``recall@5``...) of ``eval_set`` as a retrieval task; None
        where it was not measured (studies run before the evaluation files held retrieval)."""
        return retrieval_metric((self.adapted if adapted else self.zero_shot).get(eval_set), metric)

    def category_means(self, eval_set: str) -> tuple[float | None, float | None]:
        cats = (self.adapted.get(eval_set) or {}).get("categories", {})
        return (cats.get("similar") or {}).get("mean"), (cats.get("different") or {}).get("mean")

    @property
    def emb_per_s(self) -> float | None:
        return self.bench["throughput"]["best_emb_per_s"] if self.bench else None

    @property
    def served_emb_per_s(self) -> float | None:
        """Best emb/s as `cardiolora serve` runs the adapter (merged); None for benchmarks without it."""
        served = (self.bench or {}).get("served_throughput")
        return served["best_emb_per_s"] if served else None

    @property
    def memory_gb(self) -> float | None:
        return self.bench["memory"]["gb"] if self.bench else None


@dataclass
class AblationCell:
    name: str
    axes: dict[str, Any]
    adapted: dict[str, dict[str, Any]]
    training: dict[str, Any] | None


@dataclass
class StudyResults:
    study_dir: Path
    config: dict[str, Any]
    models: list[ModelResult]
    ablation: list[AblationCell]
    unavailable: dict[str, str]
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def headline_set(self) -> str:
        return self.config["evaluation"]["sets"][0]

    @property
    def transfer_sets(self) -> list[str]:
        return [s for s in self.config["evaluation"]["transfer"] if s != self.headline_set]

    @property
    def finished_models(self) -> list[ModelResult]:
        return [m for m in self.models if m.adapted]


def _axes_of(train_config: dict[str, Any] | None) -> dict[str, Any]:
    if not train_config:
        return {}
    return {
        "data_fraction": train_config["data_fraction"],
        "rank": train_config["peft"]["r"],
        "loss": train_config["loss"]["name"],
        "peft": train_config["peft"]["method"],
    }


def load_results(study_dir: str | Path) -> StudyResults:
    """Everything finished in ``study_dir`` (unfinished steps are simply absent)."""
    from cardiolora.study.config import slug

    study_dir = Path(study_dir)
    config = _read(study_dir / "study.json")
    if config is None:
        raise CardioloraError(f"{study_dir} is not a study directory (no study.json); run `cardiolora study run` first")
    models = []
    for entry in config["models"]:
        root = study_dir / "models" / slug(entry["name"])
        zero_shot, adapted = _read(root / "zero-shot.json"), _read(root / "adapted.json")
        bench = _read(root / "bench.json")
        described = (adapted or zero_shot or {}).get("model") or {}
        metrics = _read(root / "train" / "metrics.json")
        models.append(
            ModelResult(
                name=entry["name"],
                family=described.get("family"),
                parameters=described.get("parameters"),
                dimension=described.get("dimension"),
                zero_shot=_by_set(zero_shot),
                adapted=_by_set(adapted),
                bench=bench,
                training=(metrics or {}).get("training"),
                embedding_map=_read(root / "embedding_map.json"),
            )
        )
    cells = []
    for cell_dir in sorted((study_dir / "ablation").glob("*")) if (study_dir / "ablation").exists() else []:
        adapted = _read(cell_dir / "adapted.json")
        if adapted is None:
            continue
        metrics = _read(cell_dir / "train" / "metrics.json")
        cells.append(
            AblationCell(
                cell_dir.name,
                _axes_of(_read(cell_dir / "train" / "config.json")),
                _by_set(adapted),
                (metrics or {}).get("training"),
            )
        )
    # Grid order (numeric ranks and fractions), not the directory names' string order (16 < 32 < 8).
    cells.sort(
        key=lambda c: (
            not c.axes,
            c.axes.get("data_fraction", 0),
            c.axes.get("rank", 0),
            c.axes.get("loss", ""),
            c.axes.get("peft", ""),
            c.name,
        )
    )
    return StudyResults(
        study_dir,
        config,
        models,
        cells,
        _read(study_dir / "unavailable.json") or {},
        _read(study_dir / "versions.json") or {},
    )


def evaluated_pairs(evaluation: dict[str, Any]):
    """The pairs of an evaluation's set, in the order of its ``pair_cosines`` (the set must be
    unchanged since: its sha256 is checked)."""
    from cardiolora.evaluation import load_eval_set

    path = Path(evaluation["eval_set"]["path"])
    eval_set = load_eval_set(path if path.exists() else evaluation["eval_set"]["name"])
    if eval_set.sha256 != evaluation["eval_set"]["sha256"]:
        raise CardioloraError(f"evaluation set {path} changed since the study evaluated it (sha256 differs)")
    return list(eval_set.pairs)


def pair_labels(evaluation: dict[str, Any]) -> list[str]:
    """The category of each pair of an evaluation, in the order of its ``pair_cosines``."""
    return [p.category for p in evaluated_pairs(evaluation)]


def biggest_movers(zero_shot: dict[str, Any], adapted: dict[str, Any], count: int = 5) -> dict[str, list[dict]]:
    """The pairs whose cosine the adapter raised most and lowered most (``up`` / ``down``)."""
    pairs = evaluated_pairs(adapted)
    change = np.asarray(adapted["pair_cosines"]) - np.asarray(zero_shot["pair_cosines"])
    order = np.argsort(change)

    def rows(indices) -> list[dict]:
        return [
            {
                "sentence1": pairs[i].sentence1,
                "sentence2": pairs[i].sentence2,
                "category": pairs[i].category,
                "zero_shot": float(zero_shot["pair_cosines"][i]),
                "adapted": float(adapted["pair_cosines"][i]),
                "change": float(change[i]),
            }
            for i in indices
        ]

    return {"up": rows(order[::-1][:count]), "down": rows(order[:count])}


def cosines_by_category(evaluation: dict[str, Any]) -> dict[str, np.ndarray]:
    labels = pair_labels(evaluation)
    cosines = np.asarray(evaluation["pair_cosines"])
    return {c: cosines[np.asarray(labels) == c] for c in dict.fromkeys(labels)}
