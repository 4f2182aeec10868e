"""Dataset builds: pairs in, leak guard applied, pairs and data card out (atomically)."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cardiolora.data.categories import BRANCHES, DEFAULT_REPLAY_RATIO, REPLAY_BRANCHES, REPLAY_WEIGHTS
from cardiolora.data.datacard import datacard, write_datacard
from cardiolora.data.diseases import DiseaseRecipe
from cardiolora.data.leakage import EVALUATION_PAIR, EVALUATION_TEXT, LeakGuard, bundled_guard
from cardiolora.data.ontology import Concept, load_concepts
from cardiolora.data.ontology_pairs import OntologyRecipe, build_ontology_pairs, dedup_pairs
from cardiolora.data.records import PairRecord, write_pairs
from cardiolora.data.statements import StatementRecipe
from cardiolora.errors import CardioloraError, UnknownNameError
from cardiolora.io import atomic_path


@dataclass
class DatasetResult:
    path: Path
    datacard_json: Path
    datacard_md: Path
    card: dict[str, Any]


def dropped_path(out: str | Path) -> Path:
    """Where a build names the pairs the leak guard dropped: ``NAME.dropped.jsonl`` beside ``NAME.jsonl``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.dropped.jsonl")


def finish_dataset(
    pairs: Sequence[PairRecord],
    out: str | Path,
    *,
    name: str,
    settings: dict[str, Any],
    removed: dict[str, int] | None = None,
    exclude_eval: Sequence[str | Path] = (),
    guard: LeakGuard | None = None,
    keep_leaks: bool = False,
) -> DatasetResult:
    """Apply the leak guard (bundled evaluation sets + ``exclude_eval``), write pairs and data card,
    and the dropped pairs with their reason to ``NAME.dropped.jsonl`` (empty when none was dropped).

    ``keep_leaks`` keeps every pair (for users who never evaluate on the bundled sets); the data card
    then says how many would have been dropped and that they were kept."""
    unique = dedup_pairs(pairs)
    guard = guard or bundled_guard(exclude_eval)
    kept, dropped = guard.split(unique)
    if keep_leaks:
        kept = list(unique)
    if not kept:
        raise CardioloraError(
            f"no pairs left to write to {out} ({len(dropped)} removed by the leak guard: "
            f"{len(dropped) and Counter(why for _, why in dropped).most_common(1)[0][0].replace('_', ' ')}; "
            "nothing written)"
        )
    reasons = Counter(why for _, why in dropped)
    removed = {
        **(removed or {}),
        "duplicates": len(pairs) - len(unique),
        EVALUATION_TEXT: 0 if keep_leaks else reasons[EVALUATION_TEXT],
        EVALUATION_PAIR: 0 if keep_leaks else reasons[EVALUATION_PAIR],
    }
    if keep_leaks:
        removed["kept_leaks"] = len(dropped)
    card = datacard(kept, name=name, settings=settings, removed=removed, leak_sources=guard.sources)
    path = Path(out)
    write_pairs(path, kept)
    with atomic_path(dropped_path(path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for pair, why in dropped:
            record = json.loads(pair.to_json())
            handle.write(json.dumps({"reason": why, "kept": keep_leaks, **record}, ensure_ascii=False) + "\n")
    json_path, md_path = write_datacard(path, card)
    return DatasetResult(path, json_path, md_path, card)


def without_evaluation_concepts(concepts: list[Concept], guard: LeakGuard) -> tuple[list[Concept], int]:
    """``concepts`` less those whose name or a synonym is an evaluation term, and how many went."""
    kept = [c for c in concepts if not guard.is_evaluation_concept([c.name, *c.synonyms])]
    return kept, len(concepts) - len(kept)


def replay_pairs(
    target_pairs: int,
    *,
    ratio: float,
    branches: Sequence[str],
    sources: Sequence[str],
    recipe: OntologyRecipe,
    max_per_category: int = 15,
    weights: dict[str, float] | None = None,
    progress: Callable[[str, int], None] | None = None,
    guard: LeakGuard | None = None,
    dropped_concepts: Counter | None = None,
) -> list[PairRecord]:
    """``ratio`` x ``target_pairs`` pairs from the other organ systems, each branch's share in
    proportion to its weight in ``weights`` (1 when not named; equal shares by default), drawn at
    random from all that branch's pairs, so every relation keeps its weight."""
    if ratio <= 0 or not branches:
        return []
    weights = weights or {}
    rng = random.Random(recipe.seed)
    total = sum(weights.get(name, 1.0) for name in branches)
    drawn: list[PairRecord] = []
    for done, name in enumerate(branches):
        if progress:
            progress(name, done)
        share = max(1, round(ratio * target_pairs * weights.get(name, 1.0) / total))
        concepts = load_concepts(name, sources, max_per_category=max_per_category, seed=recipe.seed)
        if guard is not None:
            guard.expand_with_concepts(concepts)
            concepts, dropped = without_evaluation_concepts(concepts, guard)
            if dropped_concepts is not None:
                dropped_concepts[name] += dropped
        pairs = dedup_pairs(build_ontology_pairs(concepts, recipe)) if concepts else []
        drawn.extend(rng.sample(pairs, min(share, len(pairs))))
    return drawn


def build_ontology_dataset(
    out: str | Path,
    *,
    branch: str = "cardiovascular",
    sources: Sequence[str] = ("hpo", "icd10cm"),
    recipe: OntologyRecipe | None = None,
    max_per_category: int = 15,
    exclude_eval: Sequence[str | Path] = (),
    replay_ratio: float = DEFAULT_REPLAY_RATIO,
    replay_branches: Sequence[str] | None = None,
    diseases: DiseaseRecipe | bool | None = True,
    statements: StatementRecipe | bool | None = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> DatasetResult:
    """Pairs from HPO and/or ICD-10-CM concepts of one branch, plus ``replay_ratio`` times as many
    from the other organ systems (``replay_branches``, default every other branch) so that training
    keeps the rest of medicine in place: the recommended recipe by default. ``diseases`` adds
    sentence-level pairs from HPO's disease annotations (:mod:`cardiolora.data.diseases`): the branch's
    diseases, and ``replay_ratio`` times as many from the replay branches' diseases; ``statements``
    adds the clinical statement bank's pairs (:mod:`cardiolora.data.statements`) the same way.
    Both are on by default (``True``: the builders' default recipes with ``recipe``'s seed; ``None``
    or ``False``: off): they are what teaches clinical sentences (docs/recipes.md, "Meaning, not
    words"). ``progress(what, done, total)`` hears of each branch as it is read (the target first,
    then the replay branches)."""
    recipe = recipe or OntologyRecipe()
    if diseases is True:
        diseases = DiseaseRecipe(seed=recipe.seed)
    if statements is True:
        statements = StatementRecipe(seed=recipe.seed)
    diseases = diseases or None
    statements = statements or None
    if replay_ratio < 0:
        raise CardioloraError(f"replay ratio must be >= 0, got {replay_ratio}")
    if replay_branches is None:
        replay_branches = [name for name in REPLAY_BRANCHES if name != branch]
    for name in [branch, *replay_branches]:
        if name not in BRANCHES:
            raise UnknownNameError("branch", name, BRANCHES)
    steps = 1 + (len(replay_branches) if replay_ratio > 0 else 0) + 1

    def report(what: str, done: int) -> None:
        if progress:
            progress(what, done, steps)

    report(f"{branch}: concepts and pairs", 0)
    guard = bundled_guard(exclude_eval)
    dropped_concepts: Counter = Counter()
    concepts = load_concepts(branch, sources, max_per_category=max_per_category, seed=recipe.seed)
    if not concepts:
        raise CardioloraError(f"no concepts found for branch {branch!r} in {', '.join(sources)}")
    guard.expand_with_concepts(concepts)
    concepts, dropped_concepts[branch] = without_evaluation_concepts(concepts, guard)
    raw = build_ontology_pairs(concepts, recipe)
    weights = {name: w for name, w in REPLAY_WEIGHTS.get(branch, {}).items() if name in replay_branches}
    replay = replay_pairs(
        len(dedup_pairs(raw)),
        ratio=replay_ratio,
        branches=replay_branches,
        sources=sources,
        recipe=recipe,
        max_per_category=max_per_category,
        weights=weights,
        progress=lambda name, done: report(f"replay from {name}", 1 + done),
        guard=guard,
        dropped_concepts=dropped_concepts,
    )
    disease_pairs: list[PairRecord] = []
    if diseases is not None:
        report("diseases and how patients present", steps - 1)
        disease_pairs = disease_dataset_pairs(
            diseases, branch, replay_branches if replay_ratio > 0 else [], replay_ratio, guard, dropped_concepts
        )
    statement_pairs: list[PairRecord] = []
    if statements is not None:
        from cardiolora.data.statements import statement_dataset_pairs

        report("the clinical statement bank", steps - 1)
        statement_pairs = statement_dataset_pairs(
            statements, branch, replay_branches if replay_ratio > 0 else [], replay_ratio, guard.leaks
        )
    report("duplicates, leak guard, data card", steps - 1)
    settings = {
        "builder": "ontology",
        "branch": branch,
        "sources": list(sources),
        "n_concepts": len(concepts),
        "max_per_category": max_per_category,
        "recipe": asdict(recipe),
        "replay": {
            "ratio": replay_ratio,
            "branches": list(replay_branches) if replay_ratio > 0 else [],
            "weights": weights if replay_ratio > 0 else {},
        },
        "diseases": asdict(diseases) if diseases is not None else None,
        "statements": asdict(statements) if statements is not None else None,
        "exclude_eval": [str(p) for p in exclude_eval],
    }
    removed = {"evaluation_concepts": sum(dropped_concepts.values())}
    pairs = [*raw, *replay, *disease_pairs, *statement_pairs]
    return finish_dataset(pairs, out, name=Path(out).stem, settings=settings, removed=removed, guard=guard)


def disease_dataset_pairs(
    recipe: DiseaseRecipe,
    branch: str,
    replay_branches: Sequence[str],
    replay_ratio: float,
    guard: LeakGuard,
    dropped_concepts: Counter,
) -> list[PairRecord]:
    """The disease pairs of ``branch`` and, ``replay_ratio`` times as many, of the replay branches'
    diseases (drawn at random among them). Diseases named by an evaluation term are left out."""
    from cardiolora.data.diseases import DiseasePairBuilder, load_diseases

    everything = load_diseases()
    kept = [d for d in everything if not guard.is_evaluation_concept([d.name])]
    dropped_concepts["diseases"] += len(everything) - len(kept)
    pools: list = []
    if recipe.weights.get("finding-sentence"):
        from cardiolora.data.diseases import category_pools

        concepts = load_concepts(branch, ["hpo"], seed=recipe.seed)
        pools = category_pools(without_evaluation_concepts(concepts, guard)[0])
    builder = DiseasePairBuilder([d for d in kept if d.branch in (branch, *replay_branches)], recipe, pools)
    target = builder.build([d for d in builder.diseases if d.branch == branch])
    for pool in pools:
        count = round(recipe.weights["finding-sentence"] * len(builder.usable(pool)))
        target += builder.pool_pairs(pool, count)
    if not replay_branches or replay_ratio <= 0:
        return target
    rng = random.Random(recipe.seed)
    others = [d for d in builder.diseases if d.branch != branch]
    per_disease = max(1.0, sum(recipe.weights.values()))
    wanted = min(len(others), round(replay_ratio * len(target) / per_disease))
    return [*target, *builder.build(rng.sample(others, wanted))]


def build_corpus_dataset(inputs: Sequence[str | Path], out: str | Path, settings=None, progress=None) -> DatasetResult:
    """Clean, unique sentences of a corpus as JSONL, with a data card of what was removed and why."""
    from cardiolora.data.corpus import CorpusSettings, build_corpus
    from cardiolora.data.datacard import DATACARD_PACKAGES, datacard_paths
    from cardiolora.io import write_json_atomic, write_text_atomic
    from cardiolora.versions import package_versions

    settings = settings or CorpusSettings()
    stats = build_corpus(inputs, out, settings, progress=progress)
    card = {
        "schema": "cardiolora.corpuscard/v1",
        "name": Path(out).stem,
        **stats.as_dict(),
        "settings": asdict(settings),
        "inputs": [str(p) for p in inputs],
        "command": " ".join(sys.argv),
        "versions": package_versions(DATACARD_PACKAGES),
    }
    json_path, md_path = datacard_paths(out)
    write_json_atomic(json_path, card)
    removed = "\n".join(f"| {k} | {v} |" for k, v in card["removed"].items())
    sources = "\n".join(f"| {k} | {v} |" for k, v in card["by_source"].items())
    write_text_atomic(
        md_path,
        f"# Corpus card: {card['name']}\n\n{card['written']} sentences written of {card['sentences_seen']} seen, "
        f"from {card['documents']} documents.\n\n```\n{card['command']}\n```\n\n## Removed\n\n| reason | sentences |\n"
        f"|---|---|\n{removed}\n\n## By source\n\n| source | sentences |\n|---|---|\n{sources}\n",
    )
    return DatasetResult(Path(out), json_path, md_path, card)
