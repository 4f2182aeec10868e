"""cardiolora: LoRA-adapted clinical cardiology embedding models, measured honestly and served.

The command line (``cardiolora ...``) is a thin layer over this Python API:

>>> from cardiolora.embedding import Embedder
>>> from cardiolora.evaluation import load_eval_set, evaluate_embedder
>>> embedder = Embedder.load("minilm")
>>> result = evaluate_embedder(embedder, [load_eval_set("cardiology")])
"""

__version__ = "0.1.0"
