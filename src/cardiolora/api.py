"""The Python front door: what the command line does, as functions with typed results.

Example::

    import cardiolora

    run = cardiolora.train(model="minilm", data="data/cardio.jsonl", out="runs/minilm-cardio")
    report = cardiolora.evaluate("minilm", adapter=run.run_dir)      # every bundled set + retention
    harmed = [row.eval_set for row in report.retention() if row.harmed]
    vectors = cardiolora.Embedder.load("minilm", adapter=run.run_dir).encode(["mitral stenosis"])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cardiolora.evaluation import EvaluationReport
    from cardiolora.training import TrainConfig, TrainResult


def train(
    config: TrainConfig | None = None,
    /,
    *,
    resume: bool = False,
    overwrite: bool = False,
    log: Callable[..., Any] | None = None,
    **values: Any,
) -> TrainResult:
    """Train an adapter: a :class:`~cardiolora.training.TrainConfig`, or its fields as keyword
    arguments (``peft={"r": 8}`` and ``loss={...}`` as dicts), exactly as ``cardiolora train``.
    ``log`` receives the run's progress lines (``log=print`` to see them)."""
    from cardiolora.training import build_config
    from cardiolora.training import train as run

    if config is not None and values:
        config = build_config({**config.model_dump(), **values}, source="cardiolora.train")
    elif config is None:
        config = build_config(values, source="cardiolora.train")
    from cardiolora.logs import library_bars_off

    with library_bars_off():
        return run(config, resume=resume, overwrite=overwrite, log=log or (lambda *_: None))


def evaluate(
    model: str,
    *,
    adapter: str | Path | None = None,
    adapter_scale: float = 1.0,
    eval_sets: list[str | Path] | None = None,
    target: str = "cardiology",
    zero_shot: bool = True,
    n_resamples: int = 5000,
    seed: int = 0,
    precision: str = "fp32",
    trust_remote_code: bool = False,
) -> EvaluationReport:
    """Evaluate ``model`` (with an adapter directory or training run directory) on evaluation sets,
    as ``cardiolora evaluate``: by default every bundled set, and with an adapter the base model too,
    so that :meth:`EvaluationReport.retention` compares them on every set but ``target``."""
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import default_eval_sets, evaluate_embedder, load_eval_set

    sets = [load_eval_set(name) for name in (eval_sets or default_eval_sets(target))]
    embedder = Embedder.load(
        model, adapter=adapter, adapter_scale=adapter_scale, precision=precision, trust_remote_code=trust_remote_code
    )
    return evaluate_embedder(embedder, sets, n_resamples=n_resamples, seed=seed, zero_shot=zero_shot, target=target)
