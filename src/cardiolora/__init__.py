"""cardiolora: LoRA-adapted clinical cardiology embedding models, measured honestly and served.

The command line (``cardiolora ...``) is a thin layer over this Python API::

    import cardiolora

    pairs = cardiolora.build_ontology_dataset("data/cardio.jsonl")           # cardiology + replay pairs
    run = cardiolora.train(model="minilm", data=pairs.path, out="runs/minilm-cardio")
    report = cardiolora.evaluate("minilm", adapter=run.run_dir)
    vectors = cardiolora.Embedder.load("minilm", adapter=run.run_dir).encode(["mitral stenosis"])

Names are imported on first use, so ``import cardiolora`` stays light.
"""

from __future__ import annotations

from cardiolora._lazy import lazy_exports

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "train": "cardiolora.api",
    "evaluate": "cardiolora.api",
    "Embedder": "cardiolora.embedding",
    "TrainConfig": "cardiolora.training",
    "TrainResult": "cardiolora.training",
    "PeftSettings": "cardiolora.training",
    "LossSettings": "cardiolora.training",
    "EvaluationReport": "cardiolora.evaluation",
    "RetentionRow": "cardiolora.evaluation",
    "load_eval_set": "cardiolora.evaluation",
    "build_ontology_dataset": "cardiolora.data",
    "build_corpus_dataset": "cardiolora.data.build",
    "load_pairs": "cardiolora.data",
    "OntologyRecipe": "cardiolora.data",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
