"""Export a run as a standalone sentence-transformers model with the adapter merged into the weights.

The export directory holds the sentence-transformers model and ``cardiolora-export.json`` (what it
was made from: the run, the adapter's sha256, the adapter scale). That file is how ``--overwrite``
knows the directory is an export it may replace: an export is built beside the old one and swapped
in when complete, under a lock on the directory.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from cardiolora.directories import lock_directory, refuse_foreign_directory
from cardiolora.embedding import check_adapter_dir
from cardiolora.errors import CardioloraError
from cardiolora.io import atomic_directory, read_json_object, sha256_file, write_json_atomic, write_text_atomic

EXPORT_MARKER = "cardiolora-export.json"
EXPORT_SCHEMA = "cardiolora.export/v1"


def is_export_directory(path: str | Path) -> bool:
    """Whether ``path`` holds a model written by :func:`export_merged` (its marker file says so)."""
    return read_json_object(Path(path) / EXPORT_MARKER).get("schema") == EXPORT_SCHEMA


def _check_out(out: Path, overwrite: bool) -> None:
    if not overwrite:
        if os.path.lexists(out):
            raise CardioloraError(f"{out} exists; choose a new directory, or pass --overwrite to replace an export")
        return
    refuse_foreign_directory(out, is_export_directory, "cardiolora export directory")


def _export_card(run_dir: Path, config: dict, export: dict) -> str | None:
    """The run's model card made the export's, or None for a run without final metrics (never finished)."""
    from cardiolora.training.config import build_config
    from cardiolora.training.model_card import model_card

    metrics = read_json_object(run_dir / "metrics.json")
    if "final" not in metrics:
        return None
    return model_card(build_config(config, source=str(run_dir / "config.json")), metrics, export=export)


def export_merged(
    run_dir: str | Path,
    out: str | Path,
    adapter_scale: float = 1.0,
    *,
    overwrite: bool = False,
    trust_remote_code: bool = False,
    model: str | None = None,
) -> Path:
    """Write base model + adapter, merged, as a sentence-transformers directory that loads without
    cardiolora (``SentenceTransformer(out)``) and embeds as the adapted model does (with its update
    multiplied by ``adapter_scale``). ``overwrite`` replaces an earlier export at ``out`` (never a
    directory that is not one), once the new one is complete. ``trust_remote_code`` is the caller's
    decision alone: a run directory's own config.json, which may come from anyone, cannot switch it on.

    ``run_dir`` may also be a standalone adapter directory (one received without its run): its base
    model is the one it records, or ``model``; the export then has sentence-transformers' card."""
    from cardiolora.models import load_sentence_transformer, resolve_model
    from cardiolora.models.adapters import merge_adapter, model_for_adapter

    run_dir, out = Path(run_dir), Path(out)
    if run_dir.name == "adapter" and (run_dir.parent / "config.json").exists():
        run_dir = run_dir.parent  # RUN/adapter, as embed, evaluate and serve take it, stands for its run
    config_file = run_dir / "config.json"
    from_run = config_file.exists()
    if from_run:
        adapter = check_adapter_dir(run_dir / "adapter")
        config = json.loads(config_file.read_text())
        if model is not None:
            from cardiolora.models.adapters import check_base_model

            check_base_model(model, adapter, config["model"])
    elif (run_dir / "adapter_config.json").exists():
        adapter = check_adapter_dir(run_dir)
        config = {"model": model_for_adapter(model, adapter)}
    else:
        raise CardioloraError(
            f"{run_dir} is neither a training run directory (no config.json) nor an adapter (no adapter_config.json)"
        )
    _check_out(out, overwrite)
    resolved = resolve_model(config["model"])
    with lock_directory(out, what="export directory"):
        _check_out(out, overwrite)  # again: another process may have written it meanwhile
        # The serving length, not training's cap: `embed`, `evaluate`, `serve` and `index` read up to the
        # model's own maximum, and an export that truncated at training's 64 tokens would embed long
        # texts differently from all of them.
        model = load_sentence_transformer(resolved, trust_remote_code=trust_remote_code)
        transformer = model[0]
        with warnings.catch_warnings():
            # PEFT's merge asks transformers a deprecated question (is_gradient_checkpointing): not the user's concern.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            transformer.auto_model = merge_adapter(transformer.auto_model, adapter, adapter_scale)
        lengths = {"max_seq_length": model.max_seq_length, "training_max_seq_length": config.get("max_seq_length")}
        with atomic_directory(out, replace=overwrite) as staging:
            model.save(str(staging))
            write_json_atomic(
                staging / EXPORT_MARKER,
                {
                    "schema": EXPORT_SCHEMA,
                    "run": str(run_dir.resolve()) if from_run else None,
                    "adapter": str(adapter.resolve()),
                    "model": config["model"],
                    "adapter_sha256": sha256_file(adapter / "adapter_model.safetensors"),
                    "adapter_scale": adapter_scale,
                    **lengths,
                },
            )
            card = _export_card(run_dir, config, {**lengths, "adapter_scale": adapter_scale}) if from_run else None
            if card is not None:  # sentence-transformers wrote a card of the base model; the run's says more
                write_text_atomic(staging / "README.md", card)
    return out
