"""Export a run as a standalone sentence-transformers model with the adapter merged into the weights."""

from __future__ import annotations

import json
from pathlib import Path

from cardiolora.embedding import check_adapter_dir
from cardiolora.errors import CardioloraError
from cardiolora.io import atomic_directory


def export_merged(run_dir: str | Path, out: str | Path, adapter_scale: float = 1.0) -> Path:
    """Write base model + adapter, merged, as a sentence-transformers directory that loads without
    cardiolora (``SentenceTransformer(out)``) and embeds as the adapted model does (with its update
    multiplied by ``adapter_scale``)."""
    from cardiolora.models import load_sentence_transformer, resolve_model
    from cardiolora.models.adapters import merge_adapter

    run_dir, out = Path(run_dir), Path(out)
    config_file = run_dir / "config.json"
    if not config_file.exists():
        raise CardioloraError(f"{run_dir} is not a training run directory (no config.json)")
    adapter = check_adapter_dir(run_dir / "adapter")
    if out.exists():
        raise CardioloraError(f"{out} exists; choose a new directory")
    config = json.loads(config_file.read_text())
    resolved = resolve_model(config["model"])
    model = load_sentence_transformer(
        resolved, trust_remote_code=config.get("trust_remote_code", False), max_seq_length=config.get("max_seq_length")
    )
    transformer = model[0]
    transformer.auto_model = merge_adapter(transformer.auto_model, adapter, adapter_scale)
    with atomic_directory(out) as staging:
        model.save(str(staging))
    return out
