"""The model card a run leaves as its ``README.md``: what was trained on what, the evaluation
before and after on every set, the retention on the non-target sets, and how to use the adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cardiolora.training.config import TrainConfig


def _retention_section(metrics: dict[str, Any]) -> str:
    rows = metrics.get("retention") or []
    if not rows:
        return ""

    def fmt(value):
        return "n/a" if value is None else f"{value:+.3f}"

    lines = [
        f"| {r['eval_set']} | {fmt(r['separation_change'])} | {fmt(r['auc_change'])} | "
        f"{'**harmed**' if r['harmed'] else 'kept'} |"
        for r in rows
    ]
    return (
        "Retention on the other evaluation sets (adapted minus zero-shot; harmed: a fall of more than "
        f"{rows[0]['tolerance']}):\n\n| eval set | separation change | ROC-AUC change | |\n|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )


def front_matter(config: TrainConfig, metrics: dict[str, Any], *, export: bool = False) -> str:
    """The Hugging Face metadata a pushed model needs, as YAML front matter (huggingface_hub's
    ``ModelCardData``): base model, library, pipeline, tags, licence, the data it was built from, and a
    model-index of the run's results (every evaluation set's ROC-AUC and separation, normalisation
    top-1 where evaluated)."""
    from huggingface_hub import EvalResult, ModelCardData

    from cardiolora.errors import UnknownNameError
    from cardiolora.models import get_model_spec

    try:
        spec = get_model_spec(metrics["model"])
        base_model, license_id = spec.hub_id, spec.license
    except UnknownNameError:  # a local model directory: its own name, its licence unknown here
        base_model, license_id = None, None
    results = []
    for name, final in metrics["final"].items():
        dataset = {"dataset_type": f"cardiolora/{name}", "dataset_name": f"cardiolora {name} (form-balanced pairs)"}
        for metric, value in (("roc_auc", final.get("auc")), ("separation", final.get("separation"))):
            if value is not None:
                results.append(EvalResult(task_type="sentence-similarity", metric_type=metric,
                                          metric_value=round(value, 4), **dataset))  # fmt: skip
    for name, entry in (metrics.get("normalisation") or {}).items():
        results.append(
            EvalResult(
                task_type="text-retrieval",
                dataset_type=f"cardiolora/normalisation-{name}",
                dataset_name=f"cardiolora {name} concept normalisation",
                metric_type="accuracy",
                metric_name="top-1",
                metric_value=round(entry["final"]["top1"], 4),
            )  # fmt: skip
        )
    data = ModelCardData(
        base_model=base_model,
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        license=license_id,
        tags=[
            "sentence-transformers",
            "sentence-similarity",
            "feature-extraction",
            "medical",
            "cardiology",
            "lora",
            "cardiolora",
        ],  # fmt: skip
        datasets=["human-phenotype-ontology", "icd-10-cm"],
        model_name=f"{metrics['model']} + cardiology adapter" + (", merged" if export else ""),
        eval_results=results or None,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def model_card(config: TrainConfig, metrics: dict[str, Any], *, export: dict[str, Any] | None = None) -> str:
    """The card, in Markdown, from the resolved configuration and the run's ``metrics.json``.

    ``export`` (``max_seq_length``, ``adapter_scale``, ``training_max_seq_length``) makes it the card of
    a merged export (:func:`cardiolora.training.export.export_merged`): the same results, and how to
    load the standalone model instead of the adapter."""
    rows = []
    for name, final in metrics["final"].items():
        before = (metrics.get("zero_shot") or {}).get(name, {})

        def fmt(value):
            return "n/a" if value is None else f"{value:.3f}"

        rows.append(
            f"| {name} | {fmt(before.get('separation'))} | {fmt(final['separation'])} | {fmt(before.get('auc'))} | "
            f"{fmt(final['auc'])} | {fmt(before.get('negation_accuracy'))} | {fmt(final['negation_accuracy'])} |"
        )
    training = metrics["training"]
    usage = f"""```bash
cardiolora evaluate --model {config.model} --adapter {Path(config.out) / "adapter"}
cardiolora export {config.out} --out merged-model   # a standalone sentence-transformers model, adapter merged
```"""
    title = f"{metrics['model']} + cardiology adapter"
    if export is not None:
        title += ", merged"
        scale = export["adapter_scale"]
        usage = f"""This directory is the base model with the adapter merged into its weights{
            "" if scale == 1 else f" (its update multiplied by {scale})"
        }: it loads without cardiolora and embeds as `cardiolora embed --adapter` does.

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("path/to/this/directory")
vectors = model.encode(["mitral stenosis", "aortic stenosis"], normalize_embeddings=True)
```

Texts are read up to {export["max_seq_length"]} tokens, the length `cardiolora embed`, `evaluate` and
`serve` use for this model; training capped its texts at {export["training_max_seq_length"]} tokens."""
    return (
        front_matter(config, metrics, export=export is not None)
        + f"""# {title}

A {config.peft.method.upper()} adapter (r={config.peft.r}, alpha={config.peft.alpha}) for `{metrics["model"]}`,
trained by cardiolora with the `{config.loss.name}` objective on `{config.data}`.

| eval set | separation before | after | ROC-AUC before | after | negation acc. before | after |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{_retention_section(metrics)}
Training: {training["pairs"]} pairs, {training["global_step"]} steps, {training["seconds"]} s,
{training["trainable_parameters"]:,} trainable of {training["total_parameters"]:,} parameters.

Produced by:

```
{metrics["command"]}
```

Use it:

{usage}

Settings (`config.json` holds all of them):

```json
{json.dumps(config.resolved(), indent=2)}
```
"""
    )
