"""The playground's default phrases, cosines between them with the base model and with an adapter
(the numbers the README quotes when it says why the page shows these examples).

    .venv/bin/python docs/experiments/playground_examples.py runs/minilm-cardio/adapter
"""

from __future__ import annotations

import re
import sys
from importlib.resources import files

from cardiolora.embedding import Embedder


def default_phrases() -> list[str]:
    page = files("cardiolora.resources").joinpath("playground.html").read_text()
    return [
        line.strip() for line in re.search(r'<textarea id="phrases">(.*?)</textarea>', page, re.S).group(1).splitlines()
    ]


def main(adapter: str) -> None:
    phrases = default_phrases()
    models = {"base": Embedder.load("minilm"), "adapted": Embedder.load("minilm", adapter=adapter)}
    cosines = {name: (lambda v: v @ v.T)(embedder.encode(phrases)) for name, embedder in models.items()}
    for i in range(len(phrases)):
        for j in range(i + 1, len(phrases)):
            print(f"{phrases[i]!r} ~ {phrases[j]!r}: {cosines['base'][i, j]:.3f} -> {cosines['adapted'][i, j]:.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/minilm-cardio/adapter")
