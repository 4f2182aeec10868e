"""Corpus pipeline speed and near-duplicate quality on a synthetic corpus, in one run.

    .venv/bin/python benchmarks/corpus_speed.py --sentences 1000000

Builds a synthetic corpus of N sentences (random 10-16 word sentences over a 20,000-word vocabulary,
five to a paragraph) in which a share are near duplicates of earlier sentences: a changed case and
punctuation, one word swapped, a typo, or an inserted word. Runs `cardiolora data corpus`'s
pipeline on it and prints sentences per second, peak memory (RSS), and the recall and precision of
duplicate removal against the injected ground truth.
"""

from __future__ import annotations

import argparse
import random
import resource
import string
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 10)))


def _near_duplicate(sentence: str, rng: random.Random, vocabulary: list[str]) -> str:
    words = sentence.rstrip(".").split()
    kind = rng.randrange(4)
    if kind == 0:
        return sentence.upper().rstrip(".") + "!"
    if kind == 1:
        words[rng.randrange(1, len(words))] = rng.choice(vocabulary)
    elif kind == 2:
        index = rng.randrange(1, len(words))
        word = words[index]
        position = rng.randrange(len(word))
        words[index] = word[:position] + rng.choice(string.ascii_lowercase) + word[position + 1 :]
    else:
        words.insert(rng.randrange(1, len(words)), rng.choice(["the", "also", "often", "then"]))
    return " ".join(words) + "."


def synthetic_corpus(path: Path, n: int, duplicate_share: float, seed: int = 0) -> Counter:
    """Write the corpus; return how often each injected duplicate sentence occurs (the ground truth)."""
    rng = random.Random(seed)
    vocabulary = [_word(rng) for _ in range(20_000)]
    recent: list[str] = []
    injected: Counter = Counter()
    with open(path, "w") as handle:
        for index in range(n):
            if recent and rng.random() < duplicate_share:
                sentence = _near_duplicate(rng.choice(recent), rng, vocabulary)
                injected[sentence] += 1
            else:
                words = [rng.choice(vocabulary) for _ in range(rng.randint(10, 16))]
                sentence = words[0].capitalize() + " " + " ".join(words[1:]) + "."
                recent.append(sentence)
                if len(recent) > 5000:
                    recent.pop(rng.randrange(len(recent)))
            handle.write(sentence + (" " if (index + 1) % 5 else "\n\n"))
    return injected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--duplicate-share", type=float, default=0.05)
    args = parser.parse_args()

    from cardiolora.data.corpus import CorpusSettings, CorpusStats, iter_sentences

    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "synthetic.txt"
        with console.status(f"writing {args.sentences:,} synthetic sentences"):
            injected = synthetic_corpus(corpus, args.sentences, args.duplicate_share)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stats = CorpusStats()
        kept_injected = 0  # occurrences of injected duplicates that survived
        start = time.perf_counter()
        with console.status("running the corpus pipeline"):
            for record in iter_sentences([corpus], CorpusSettings(min_words=4, max_words=80), stats):
                if record["text"] in injected:
                    kept_injected += 1
        elapsed = time.perf_counter() - start
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    removed = stats.removed["exact_duplicate"] + stats.removed["near_duplicate"]
    n_injected = sum(injected.values())
    true_removed = n_injected - kept_injected
    table = Table(title=f"corpus pipeline on {stats.sentences_seen:,} synthetic sentences")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("sentences / s", f"{stats.sentences_seen / elapsed:,.0f}")
    table.add_row("wall time", f"{elapsed:,.1f} s")
    table.add_row(
        "peak RSS (process)", f"{peak_rss / 1024:,.0f} MiB (before the pipeline: {rss_before / 1024:,.0f} MiB)"
    )
    table.add_row("injected duplicates", f"{n_injected:,}")
    table.add_row(
        "removed as exact / near duplicate",
        f"{stats.removed['exact_duplicate']:,} / {stats.removed['near_duplicate']:,}",
    )
    table.add_row("recall (injected removed)", f"{true_removed / max(1, n_injected):.4f}")
    table.add_row("precision (removed that were injected)", f"{true_removed / max(1, removed):.4f}")
    console.print(table)


if __name__ == "__main__":
    main()
