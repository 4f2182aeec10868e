"""Time estimates for a study plan from measured rates.

A model's training seconds per step and encoding rate are measured here (two timed training
steps on the study's batch size after one warm-up, and one timed encode), or read from the
finished training runs of the study directory, which are measured on the real workload. Rates are
cached per machine in ``~/.cache/cardiolora/rates.json`` so that a second dry run is instant.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cardiolora.study.config import StudyConfig, ablation_cells, train_config_for
from cardiolora.study.runner import Plan, data_path

# Target pairs the ontology builder makes with default weights (measured with `cardiolora data ontology
# --replay-ratio 0`: 15,857 for cardiovascular); replay adds replay_ratio times as many. Used only until
# the data step has run.
EXPECTED_ONTOLOGY_PAIRS = {"cardiovascular": 15857}
DEFAULT_EXPECTED_PAIRS = 3000


def _rates_file() -> Path:
    from cardiolora.models.sources import cache_root

    return cache_root() / "rates.json"


def _key(model: str, batch_size: int, max_seq_length: int | None, precision: str) -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu{torch.get_num_threads()}"
    return f"{model}|{batch_size}|{max_seq_length}|{precision}|{device}"


def _training_texts(pairs_path: Path | None, count: int) -> tuple[list[str], str]:
    """Texts like the training data's: its own when it exists, else the evaluation sentences."""
    from cardiolora.bench.benchmark import benchmark_texts

    if pairs_path is not None and pairs_path.exists():
        from cardiolora.data import load_pairs

        pairs = load_pairs(pairs_path)
        texts = [t for p in pairs[:count] for t in (p.anchor, p.positive, p.negative or p.positive)]
        if len(texts) >= count:
            return texts[:count], "pairs"
    return benchmark_texts(count), "evaluation sentences"


def measure_rates(
    model: str, batch_size: int, max_seq_length: int | None, precision: str = "fp32", pairs_path: Path | None = None
) -> dict[str, float]:
    """Seconds per training step (LoRA on the default targets, InfoNCE over anchor, positive and
    negative columns) and embeddings/s."""
    import torch
    from peft import LoraConfig
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from cardiolora.models import load_sentence_transformer, resolve_model

    resolved = resolve_model(model)
    st = load_sentence_transformer(resolved, max_seq_length=max_seq_length)
    texts, kind = _training_texts(pairs_path, 3 * batch_size)
    started = time.perf_counter()
    st.encode(texts, batch_size=32)
    emb_per_s = len(texts) / (time.perf_counter() - started)
    st.add_adapter(LoraConfig(r=16, lora_alpha=32, target_modules=list(resolved.spec.lora_targets)))
    loss = MultipleNegativesRankingLoss(st)
    optimizer = torch.optim.AdamW([p for p in st.parameters() if p.requires_grad], lr=1e-5)
    features = [st.preprocess(texts[i::3]) for i in range(3)]
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        with torch.autocast(st.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            value = loss(features, None)
        value.backward()
        optimizer.step()
        optimizer.zero_grad()
        timings.append(time.perf_counter() - started)
    return {"seconds_per_step": min(timings[1:]), "emb_per_s": emb_per_s, "texts": kind}


def _observed(plan: Plan, model: str) -> float | None:
    for step in plan.steps:
        metrics = step.output / "metrics.json"
        if step.kind == "train" and step.model == model and metrics.exists():
            training = json.loads(metrics.read_text())["training"]
            if training.get("global_step"):
                return training["seconds"] / training["global_step"]
    return None


def count_pairs(config: StudyConfig, study_dir: Path) -> tuple[int, bool]:
    """(pairs, measured): the data file's size when it exists, else the recipe's expected size."""
    path = data_path(config, study_dir)
    if path.exists():
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip()), True
    target = EXPECTED_ONTOLOGY_PAIRS.get(config.data.branch, DEFAULT_EXPECTED_PAIRS)
    return round(target * (1 + config.data.replay_ratio)), False


def estimate(plan: Plan, measure: bool = True, progress=None) -> dict[str, Any]:
    """Seconds per pending step (None where no rate is known) and the total."""
    config = plan.config
    pairs, pairs_measured = count_pairs(config, plan.study_dir)
    cache_path = _rates_file()
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    rates: dict[str, dict[str, float] | None] = {}
    eval_texts = 0
    from cardiolora.evaluation import load_eval_set

    for name in config.evaluation.all_sets:
        eval_texts += len(load_eval_set(name).sentences())

    def rate_for(model: str) -> dict[str, float] | None:
        if model in rates:
            return rates[model]
        tc = train_config_for(config, model, Path("out"), Path("pairs.jsonl"))
        pairs_file = data_path(config, plan.study_dir)
        key = _key(model, tc.batch_size, tc.max_seq_length, tc.precision) + (
            "|pairs" if pairs_file.exists() else "|eval"
        )
        rate = cache.get(key)
        if rate is None and measure:
            if progress:
                progress(f"measuring training and encoding speed of {model}")
            rate = measure_rates(model, tc.batch_size, tc.max_seq_length, tc.precision, pairs_file)
            cache[key] = rate
            from cardiolora.io import write_json_atomic

            write_json_atomic(cache_path, cache)
        observed = _observed(plan, model)
        if rate is not None and observed is not None:
            rate = {**rate, "seconds_per_step": observed}
        rates[model] = rate
        return rate

    cells = dict(ablation_cells(config.ablation)) if config.ablation else {}
    seconds: list[tuple[str, float | None]] = []
    for step in plan.pending:
        if step.kind == "data":
            seconds.append((step.label, 30.0))  # the ontology build took 19 s on the 2-core machine
            continue
        rate = rate_for(step.model)
        if rate is None:
            seconds.append((step.label, None))
            continue
        if step.kind == "train":
            tc = train_config_for(config, step.model, Path("out"), Path("pairs.jsonl"), cells.get(step.cell, {}))
            steps = max(1, int(pairs * tc.data_fraction) // (tc.batch_size * tc.gradient_accumulation))
            steps = tc.max_steps or int(steps * tc.epochs)
            seconds.append((step.label, steps * rate["seconds_per_step"] + 20 + eval_texts / rate["emb_per_s"]))
        elif step.kind in ("zero-shot", "adapted"):
            seconds.append((step.label, 10 + eval_texts / rate["emb_per_s"]))
        elif step.kind == "bench":
            b = config.bench
            texts = b.iterations + b.warmup + b.throughput_texts * len(b.batch_sizes)
            seconds.append((step.label, 15 + texts / rate["emb_per_s"] * 1.5))
    known = [s for _, s in seconds if s is not None]
    stand_in = any(r and r.get("texts") != "pairs" for r in rates.values())
    return {
        "stand_in_texts": stand_in,
        "pairs": pairs,
        "pairs_measured": pairs_measured,
        "steps": seconds,
        "total_seconds": sum(known),
        "unknown_steps": sum(1 for _, s in seconds if s is None),
        "rates": rates,
    }
