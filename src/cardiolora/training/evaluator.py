"""Separation on the evaluation sets while training, as a sentence-transformers evaluator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

from cardiolora.evaluation import EvalSet, compute_metrics, cosines_of_pairs


@contextmanager
def at_serving_length(model) -> Iterator[None]:
    """``model`` at the length and with the attention kernel it was loaded with (not training's cap
    and kernel) for the duration: a text longer than the cap is evaluated as `cardiolora evaluate`
    embeds it, whole, and by the same kernels, to the last digit."""
    training_length = model.max_seq_length
    model.max_seq_length = getattr(model, "cardiolora_serving_length", training_length)
    transformer = model[0].auto_model
    training_attention = transformer.config._attn_implementation
    serving_attention = getattr(model, "cardiolora_serving_attention", training_attention)
    if serving_attention != training_attention:
        transformer.set_attn_implementation(serving_attention)
    try:
        yield
    finally:
        model.max_seq_length = training_length
        if serving_attention != training_attention:
            transformer.set_attn_implementation(training_attention)


class SeparationEvaluator(SentenceEvaluator):
    """Separation, ROC-AUC and negation accuracy of each evaluation set; the first set's ROC-AUC is
    the primary metric (the best checkpoint and early stopping follow it): separation can be raised
    by pushing every pair apart, ROC-AUC only by ordering pairs better."""

    def __init__(
        self,
        eval_sets: list[EvalSet],
        n_resamples: int = 1000,
        batch_size: int = 64,
        prompt: str | None = None,
        history_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.prompt = prompt
        self.eval_sets = eval_sets
        self.n_resamples = n_resamples
        self.batch_size = batch_size
        self.primary_metric = f"{eval_sets[0].name}_auc" if eval_sets else "auc"
        self.greater_is_better = True
        # Kept on disk at every evaluation, so a resumed run's history starts with the evaluations
        # made before it was stopped (those after the last checkpoint are made again and replaced).
        self.history_path = history_path
        self.history: list[dict[str, Any]] = []
        if history_path is not None and history_path.exists():
            self.history = json.loads(history_path.read_text())

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        with at_serving_length(model):
            metrics = self._evaluate(model)
        if steps >= 0:  # an evaluation made again after a resume replaces the one from before
            self.history = [h for h in self.history if h["steps"] < steps]
        self.history.append({"epoch": epoch, "steps": steps, **metrics})
        if self.history_path is not None:
            from cardiolora.io import write_json_atomic

            write_json_atomic(self.history_path, self.history)
        return metrics

    def _evaluate(self, model) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for eval_set in self.eval_sets:
            cosines = cosines_of_pairs(
                lambda texts: model.encode(
                    texts,
                    prompt=self.prompt,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ),
                eval_set,
            )
            result = compute_metrics(eval_set, cosines, n_resamples=self.n_resamples)
            for key in ("separation", "auc", "negation_accuracy"):
                if result[key] is not None:
                    metrics[f"{eval_set.name}_{key}"] = float(result[key])
        return metrics
