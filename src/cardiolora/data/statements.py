"""The clinical statement bank: sentence-level pairs where meaning, not wording, decides.

Each entry of the bank (``resources/training/statements/*.jsonl``, written from clinical knowledge
without sight of any evaluation set) states one clinical fact five ways and gives four statements
that look alike but state another fact::

    {"id": "card-isch-...", "specialty": "cardiology", "category": "ischemic",
     "term": "Inferior ST-elevation myocardial infarction",
     "same": ["...", "..."], "different": ["...", "..."]}

Its relations (:class:`StatementRecipe` weights them, in pairs per entry):

- ``statement-paraphrase``: two of the ``same`` statements (other words, other structure); the
  negative is the ``different`` statement that shares the most words with the anchor: shared words
  stop meaning shared meaning, other words for one fact are learned as one.
- ``statement-term``: a ``same`` statement -> the entry's ``term`` (a description finds its name:
  concept normalisation); the negative is another entry's term that shares words with it (BM25).
- ``vignette-term``: two or three of an entry's ``same`` statements joined into one longer text ->
  the entry's ``term``, as a clinical summary that says one thing several ways; the negative as for
  ``statement-term``. Off by default (docs/recipes.md row `vignette`).
- ``term-statement``: the other way round, the ``term`` -> a ``same`` statement; the negative is the
  ``different`` statement closest in words to that positive, so positive and negative have one form
  (two sentences) and only meaning tells them apart (a term -> description ranking).

No evaluation text reaches training through it: every pair passes the leak guard like any other.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cardiolora.data.records import PairRecord
from cardiolora.errors import CardioloraError, InputError
from cardiolora.io import iter_jsonl

RELATIONS = ("statement-paraphrase", "statement-term", "term-statement", "vignette-term")
# The organ system (data.categories.BRANCHES) of each specialty: the target's statements train, the
# others are replay (the teacher keeps them where the base model put them).
SPECIALTY_BRANCHES = {
    "cardiology": "cardiovascular",
    "pulmonology": "respiratory",
    "nephrology": "renal",
    "endocrinology": "endocrine-metabolic",
    "neurology": "nervous",
    "gastroenterology": "digestive",
    "hematology": "blood-immune",
    "infectious-disease": "infectious",
    "rheumatology": "musculoskeletal",
}
_ID = re.compile(r"[a-z0-9-]+")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Statement:
    """One entry of the bank: one fact, its wordings, and look-alikes that state another fact."""

    id: str
    specialty: str
    category: str
    same: tuple[str, ...]
    different: tuple[str, ...]
    term: str | None = None

    @property
    def branch(self) -> str:
        return SPECIALTY_BRANCHES[self.specialty]


def bundled_statement_banks() -> dict[str, Path]:
    root = resources.files("cardiolora") / "resources" / "training" / "statements"
    if not root.is_dir():
        return {}
    return {Path(str(e)).stem: Path(str(e)) for e in root.iterdir() if e.name.endswith(".jsonl")}


def _texts(record: dict, field_name: str, path: Path, line: int, minimum: int) -> tuple[str, ...]:
    values = record.get(field_name)
    if not isinstance(values, list) or len(values) < minimum:
        raise InputError(f"must be a list of at least {minimum} statements", path=path, line=line, field=field_name)
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise InputError("every statement must be a non-empty string", path=path, line=line, field=field_name)
    return tuple(v.strip() for v in values)


def load_statements(path: str | Path) -> list[Statement]:
    """A bank file, validated: a bad entry fails naming the file, line and field."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    entries, seen = [], set()
    for line, record in iter_jsonl(path):
        for name in ("id", "specialty", "category"):
            if not isinstance(record.get(name), str) or not record[name].strip():
                raise InputError("missing or not a string", path=path, line=line, field=name)
        if not _ID.fullmatch(record["id"]) or record["id"] in seen:
            raise InputError(f"not a unique lowercase slug: {record['id']!r}", path=path, line=line, field="id")
        if record["specialty"] not in SPECIALTY_BRANCHES:
            raise InputError(
                f"unknown specialty {record['specialty']!r}; one of {', '.join(SPECIALTY_BRANCHES)}",
                path=path,
                line=line,
                field="specialty",
            )
        term = record.get("term")
        if term is not None and (not isinstance(term, str) or not term.strip()):
            raise InputError("must be a non-empty string when given", path=path, line=line, field="term")
        seen.add(record["id"])
        entries.append(
            Statement(
                record["id"],
                record["specialty"],
                record["category"],
                _texts(record, "same", path, line, 2),
                _texts(record, "different", path, line, 1),
                term.strip() if term else None,
            )
        )
    return entries


def load_bundled_statements() -> list[Statement]:
    return [
        entry
        for name in sorted(bundled_statement_banks())
        for entry in load_statements(bundled_statement_banks()[name])
    ]


@dataclass
class StatementRecipe:
    """Pairs per entry of each relation (see :data:`RELATIONS`), and the seed of every choice."""

    weights: dict[str, float] = field(default_factory=lambda: {"statement-paraphrase": 6.0, "statement-term": 3.0})
    seed: int = 0

    def __post_init__(self) -> None:
        for relation, weight in self.weights.items():
            if relation not in RELATIONS:
                raise CardioloraError(f"unknown statement relation {relation!r}; one of {', '.join(RELATIONS)}")
            if weight < 0:
                raise CardioloraError(f"relation weight must be >= 0, got {relation}={weight}")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2}


def _overlap(a: str, b: str) -> float:
    left, right = _words(a), _words(b)
    return len(left & right) / max(1, len(left | right))


def statement_pairs(
    entries: Sequence[Statement], recipe: StatementRecipe | None = None, leaks: Callable[[str], bool] | None = None
) -> list[PairRecord]:
    """The pairs of :data:`RELATIONS` from ``entries`` (duplicates are left for the build's dedup).

    ``leaks`` (the build's leak guard) vets each statement before ``vignette-term`` joins it to others:
    joined into a longer text, a statement near an evaluation text would no longer look near it."""
    import bm25s

    recipe = recipe or StatementRecipe()
    rng = random.Random(recipe.seed)
    named = [e for e in entries if e.term]
    retriever = None
    if len(named) > 1:
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize([e.term for e in named], show_progress=False), show_progress=False)

    @functools.cache  # one BM25 query per entry, however many of its pairs take the answer
    def close_term(entry: Statement) -> str | None:
        """Another entry's term sharing words with this one's, of another category where possible."""
        if retriever is None:
            return None
        results, _ = retriever.retrieve(
            bm25s.tokenize([entry.term], show_progress=False), k=min(10, len(named)), show_progress=False
        )
        candidates = [named[int(i)] for i in results[0] if named[int(i)].id != entry.id]
        unrelated = [c for c in candidates if c.category != entry.category] or candidates
        return unrelated[0].term if unrelated else None

    pairs = []
    for entry in entries:

        def record(anchor: str, positive: str, negative: str | None, relation: str, entry=entry) -> PairRecord:
            return PairRecord(anchor, positive, negative, source="statements", relation=relation, group=entry.id,
                              category=entry.category, branch=entry.branch)  # fmt: skip

        # The statements that describe the term without naming it: the anchors of its term pairs.
        unnamed = [s for s in entry.same if entry.term and entry.term.lower() not in s.lower()]
        for relation, weight in recipe.weights.items():
            count = int(weight) + (1 if rng.random() < weight - int(weight) else 0)
            if relation == "statement-paraphrase":
                # Unordered: (a, b) and (b, a) are one pair to the build's dedup; each drawn one way round.
                combos = list(itertools.combinations(entry.same, 2))
                for first, second in rng.sample(combos, min(count, len(combos))):
                    anchor, positive = (first, second) if rng.random() < 0.5 else (second, first)
                    ranked = sorted(entry.different, key=lambda d, a=anchor: -_overlap(a, d))
                    negative = ranked[0] if rng.random() < 0.7 else rng.choice(entry.different)
                    pairs.append(record(anchor, positive, negative, relation))
            elif relation == "vignette-term" and entry.term:
                descriptions = [s for s in unnamed if not (leaks and leaks(s))]
                for _ in range(count if len(descriptions) >= 2 else 0):
                    joined = " ".join(rng.sample(descriptions, rng.randint(2, min(3, len(descriptions)))))
                    pairs.append(record(joined, entry.term, close_term(entry), relation))
            elif relation in ("statement-term", "term-statement") and entry.term:
                for description in rng.sample(unnamed, min(count, len(unnamed))):
                    if relation == "statement-term":
                        pairs.append(record(description, entry.term, close_term(entry), relation))
                    else:
                        negative = max(entry.different, key=lambda d, p=description: _overlap(p, d))
                        pairs.append(record(entry.term, description, negative, relation))
    return pairs


def statement_dataset_pairs(
    recipe: StatementRecipe,
    branch: str,
    replay_branches: Iterable[str],
    replay_ratio: float,
    leaks: Callable[[str], bool] | None = None,
) -> list[PairRecord]:
    """The bank's pairs of ``branch`` and, ``replay_ratio`` times as many, of the replay branches."""
    entries = load_bundled_statements()
    if not entries:
        raise CardioloraError("no statement bank is bundled (resources/training/statements/)")
    target = statement_pairs([e for e in entries if e.branch == branch], recipe, leaks)
    replay_set = set(replay_branches)
    others = statement_pairs([e for e in entries if e.branch in replay_set], recipe, leaks)
    if replay_ratio <= 0 or not others:
        return target
    rng = random.Random(recipe.seed)
    return target + rng.sample(others, min(len(others), round(replay_ratio * len(target))))
