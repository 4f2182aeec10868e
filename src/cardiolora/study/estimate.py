"""Time estimates for a study plan, measured on this machine on the study's own recipe.

No figure here comes from another machine or an earlier version:

- **pairs**: the data file when it exists; else the study's data step is run once into the cache
  (``~/.cache/cardiolora/estimate/``), which measures both its size and its seconds.
- **training**: every distinct recipe of the plan (each model's, each ablation cell's: PEFT method,
  targets, rank, loss with its teacher term, batch size, precision) runs a few steps through the
  training run's own phases on the study's pairs (:func:`cardiolora.training.trainer.time_recipe`);
  a finished training run of the study replaces the rate by the one it observed.
- **loading, evaluation, benchmark**: the same measurement times the model's load and its
  embeddings/s at batch sizes 32 and 1; a step's estimate is its load plus its texts at those rates.

Measuring happens only when asked (``cardiolora study measure``); a dry run (``study run --dry-run``)
estimates from the rates measured before, or from a stated ``seconds_per_step``, and says which
steps it cannot estimate. Rates are cached per machine, recipe and data in
``~/.cache/cardiolora/rates.json``, each with the machine's load while it was taken; a rate taken
while another process kept the cores busy (1-minute load average above half the cores) is not
cached: it would slow every later estimate. A recipe this machine cannot run (8-bit or fp16
weights without CUDA) is not timed: its steps stay unknown, with the reason. The benchmark's
subprocess start and the adapter's merge are not included.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cardiolora.errors import CardioloraError, ModelNotAvailableError
from cardiolora.study.config import StudyConfig, ablation_cells, train_config_for
from cardiolora.study.runner import Plan, Step, build_study_data, data_path

if TYPE_CHECKING:
    from cardiolora.training.config import TrainConfig

# Fields of a training configuration that do not change how long one step takes.
_NOT_SPEED = {"out", "data", "eval_sets", "epochs", "max_steps", "data_fraction", "seed", "eval_steps"} | {
    "save_steps",
    "save_total_limit",
    "early_stopping_patience",
    "report_to",
    "eval_resamples",
}


def _cache_dir() -> Path:
    from cardiolora.models.sources import cache_root

    return cache_root()


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _machine() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu{torch.get_num_threads()}"


def _data_recipe(config: StudyConfig) -> dict[str, Any]:
    from cardiolora import __version__

    custom_sets = [s for s in config.evaluation.all_sets if Path(s).suffix]
    return {
        "data": config.data.model_dump(mode="json"),
        "seed": config.seed,
        "exclude": custom_sets,
        "version": __version__,
    }


def study_pairs(config: StudyConfig, study_dir: Path, measure: bool = True, progress=None) -> dict[str, Any] | None:
    """The study's training data for the estimate: ``{"path", "pairs", "seconds", "built"}``, where
    ``built`` says the data step has run in the study; ``seconds`` is what building it took here
    (None when the study's own data file was not built by this estimate). None when the data is not
    built and ``measure`` is false."""
    path = data_path(config, study_dir)
    if path.exists():
        with open(path, "rb") as handle:
            return {"path": path, "pairs": sum(1 for line in handle if line.strip()), "seconds": None, "built": True}
    cache = _cache_dir() / "estimate"
    key = _digest(_data_recipe(config))
    cached, record = cache / f"pairs-{key}.jsonl", cache / f"pairs-{key}.json"
    if not (cached.exists() and record.exists()):
        if not measure:
            return None
        if progress:
            progress("building the study's data once, to count its pairs and time the step")
        started = time.perf_counter()
        build_study_data(config, cached)
        seconds = time.perf_counter() - started
        from cardiolora.io import write_json_atomic

        with open(cached, "rb") as handle:
            write_json_atomic(record, {"pairs": sum(1 for line in handle if line.strip()), "seconds": seconds})
    built = json.loads(record.read_text())
    return {"path": cached, "pairs": built["pairs"], "seconds": built["seconds"], "built": False}


def _observed(plan: Plan, step: Step) -> float | None:
    """Seconds per step of a finished training run of the plan with the same recipe."""
    for other in plan.steps:
        metrics = other.output / "metrics.json"
        if other.kind == "train" and other.model == step.model and other.cell == step.cell and metrics.exists():
            training = json.loads(metrics.read_text())["training"]
            if training.get("global_step"):
                return training["seconds"] / training["global_step"]
    return None


# A rate measured above this 1-minute load average per core is not cached.
BUSY_LOAD_PER_CORE = 0.5


def machine_load() -> tuple[float, int]:
    """The 1-minute load average and the number of cores."""
    import os

    return os.getloadavg()[0], os.cpu_count() or 1


def estimate(plan: Plan, measure: bool = False, progress=None, seconds_per_step: float | None = None) -> dict[str, Any]:
    """Seconds per pending step (None where nothing is known) and the total, with ``notes`` on what
    could not be estimated. ``measure`` times the recipes not yet known (see the module docstring);
    ``seconds_per_step`` states the training speed instead (every recipe alike)."""
    from cardiolora.data import load_pairs
    from cardiolora.evaluation import load_eval_set
    from cardiolora.io import write_json_atomic
    from cardiolora.training.trainer import time_recipe

    config = plan.config
    data = study_pairs(config, plan.study_dir, measure=measure, progress=progress)
    rates_path = _cache_dir() / "rates.json"
    cache = json.loads(rates_path.read_text()) if rates_path.exists() else {}
    cells = dict(ablation_cells(config.ablation)) if config.ablation else {}
    eval_texts = sum(len(load_eval_set(name).sentences()) for name in config.evaluation.all_sets)
    loaded_pairs: list = []

    notes: dict[str, str] = {}
    measured: dict[str, dict[str, float]] = {}

    def rate_for(step: Step, tc: TrainConfig) -> dict[str, float] | None:
        recipe = {k: v for k, v in tc.resolved().items() if k not in _NOT_SPEED}
        key = f"{_machine()}|{_digest(recipe)}|{_digest(_data_recipe(config)) if data else 'no-data'}"
        if key in measured:
            return measured[key]
        if key not in cache and measure and data:
            if progress:
                progress(f"measuring: training {step.model} for a few steps ({step.label.split(':')[0]})")
            if not loaded_pairs:
                loaded_pairs.extend(load_pairs(data["path"]))
            load, cores = machine_load()
            try:
                rate = time_recipe(tc, loaded_pairs)
            except ModelNotAvailableError:
                return None  # the plan skips it
            except CardioloraError as exc:  # a recipe this machine cannot run (8-bit, fp16 without CUDA)
                notes[step.label] = f"not timed here: {exc}"
                return None
            load = max(load, machine_load()[0])
            rate = {**rate, "load_average": round(load, 2), "cores": cores}
            measured[key] = rate
            if load > BUSY_LOAD_PER_CORE * cores:
                busy = f"load {load:.1f} on {cores} cores"
                notes[step.label] = f"measured while the machine was busy ({busy}): not cached"
                return rate
            cache[key] = rate
            write_json_atomic(rates_path, cache)
        if key not in cache and seconds_per_step is not None:
            return None
        return cache.get(key)

    seconds: list[tuple[str, float | None]] = []
    for step in plan.pending:
        if step.kind == "data":
            seconds.append((step.label, data and data["seconds"]))
            continue
        tc = train_config_for(config, step.model, Path("out"), Path("pairs.jsonl"), cells.get(step.cell, {}))
        rate = rate_for(step, tc)
        if rate is None and step.kind == "train" and seconds_per_step is not None and data:
            per_epoch = max(1, int(data["pairs"] * tc.data_fraction) // (tc.batch_size * tc.gradient_accumulation))
            seconds.append((step.label, (tc.max_steps or int(per_epoch * tc.epochs)) * seconds_per_step))
        elif rate is None:
            seconds.append((step.label, None))
        elif step.kind == "train":
            per_epoch = max(1, int(data["pairs"] * tc.data_fraction) // (tc.batch_size * tc.gradient_accumulation))
            steps = tc.max_steps or int(per_epoch * tc.epochs)
            per_step = _observed(plan, step) or rate["seconds_per_step"]
            seconds.append((step.label, rate["load_seconds"] + steps * per_step + eval_texts / rate["emb_per_s"]))
        elif step.kind in ("zero-shot", "adapted"):
            seconds.append((step.label, rate["load_seconds"] + eval_texts / rate["emb_per_s"]))
        elif step.kind == "bench":
            b = config.bench
            single = (b.iterations + b.warmup) / rate["emb_per_s_batch1"]
            batches = b.throughput_texts * len(b.batch_sizes) / rate["emb_per_s"]
            seconds.append((step.label, rate["load_seconds"] + single + batches))
    known = [s for _, s in seconds if s is not None]
    return {
        "pairs": data and data["pairs"],
        "pairs_measured": bool(data and data["built"]),
        "steps": seconds,
        "total_seconds": sum(known),
        "unknown_steps": sum(1 for _, s in seconds if s is None),
        "notes": notes,
    }
