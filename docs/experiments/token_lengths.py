"""Minilm token lengths of a pairs file's texts (behind the 64-token default) or of a normalisation
set's descriptions, so that the two can be compared.

.venv/bin/python docs/experiments/token_lengths.py data/cardio-recommended.jsonl
.venv/bin/python docs/experiments/token_lengths.py --normalisation cardiology
"""

import argparse

import numpy as np
from transformers import AutoTokenizer

from cardiolora.data import load_pairs
from cardiolora.evaluation.normalisation import load_normalisation_set
from cardiolora.models import resolve_model

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("pairs", nargs="*", help="pairs files (JSONL)")
parser.add_argument("--normalisation", action="append", default=[], help="a normalisation set (name or file)")
args = parser.parse_args()
tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("minilm").path))
sources = [
    (path, [t for p in load_pairs(path) for t in (p.anchor, p.positive, p.negative) if t]) for path in args.pairs
]
sources += [
    (f"normalisation {name}", [q.description for q in load_normalisation_set(name).queries])
    for name in args.normalisation
]
for name, texts in sources:
    lengths = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
    print(
        f"{name}: {len(texts)} texts; over 64 tokens: {(lengths > 64).mean():.2%}; over 128: "
        f"{(lengths > 128).mean():.2%}; median {np.median(lengths):.0f}, p90 {np.percentile(lengths, 90):.0f}, "
        f"p99 {np.percentile(lengths, 99):.0f}"
    )
