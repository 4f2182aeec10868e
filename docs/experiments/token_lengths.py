"""Share of a pairs file's texts longer than 64 and 128 minilm tokens (behind the 64-token default).

.venv/bin/python docs/experiments/token_lengths.py data/cardio-recommended.jsonl
"""

import sys

import numpy as np
from transformers import AutoTokenizer

from cardiolora.data import load_pairs
from cardiolora.models import resolve_model

tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("minilm").path))
texts = [t for p in load_pairs(sys.argv[1]) for t in (p.anchor, p.positive, p.negative) if t]
lengths = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
print(
    f"{len(texts)} texts; over 64 tokens: {(lengths > 64).mean():.2%}; over 128: {(lengths > 128).mean():.2%}; "
    f"median {np.median(lengths):.0f}, p99 {np.percentile(lengths, 99):.0f}"
)
