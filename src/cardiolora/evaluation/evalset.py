"""Evaluation sets: pairs of clinical texts labelled by how they relate.

One JSON object a line::

    {"sentence1": "Mitral stenosis", "sentence2": "Aortic stenosis", "category": "similar", "domain": "valvular"}

``category`` is one of ``similar`` (related concepts of one disease category), ``different``
(unrelated categories), ``negation`` (a finding and its negation) or ``paraphrase`` (the finding
and a true rewording). A ``paraphrase`` row and a ``negation`` row that share ``sentence1`` form a
negation test. ``domain`` (optional) groups pairs for per-domain separation. Other keys (``id``,
``note``...) are kept out of the metrics and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cardiolora.errors import InputError, UnknownNameError
from cardiolora.io import iter_jsonl, sha256_file

CATEGORIES = ("similar", "different", "negation", "paraphrase")
REQUIRED_FIELDS = ("sentence1", "sentence2", "category")


def bundled_eval_sets() -> dict[str, Path]:
    """The evaluation sets shipped with cardiolora, by name."""
    root = resources.files("cardiolora") / "resources" / "evalsets"
    return {Path(str(entry)).stem: Path(str(entry)) for entry in root.iterdir() if entry.name.endswith(".jsonl")}


def default_eval_sets(target: str = "cardiology") -> list[str]:
    """Every bundled set, the target first: one evaluation shows the gain and what it cost elsewhere."""
    names = sorted(bundled_eval_sets())
    return [target, *(n for n in names if n != target)] if target in names else names


@dataclass(frozen=True)
class EvalPair:
    sentence1: str
    sentence2: str
    category: str
    domain: str | None
    line: int


@dataclass(frozen=True)
class NegationTest:
    """A finding with a true paraphrase and a negation of it: the paraphrase should score higher."""

    anchor: str
    paraphrase: str
    negation: str


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    sha256: str
    pairs: tuple[EvalPair, ...]

    def of_category(self, category: str) -> list[EvalPair]:
        return [p for p in self.pairs if p.category == category]

    def negation_tests(self) -> list[NegationTest]:
        """Every (paraphrase, negation) combination that shares a ``sentence1``."""
        paraphrases: dict[str, list[str]] = {}
        for pair in self.of_category("paraphrase"):
            paraphrases.setdefault(pair.sentence1, []).append(pair.sentence2)
        return [
            NegationTest(pair.sentence1, paraphrase, pair.sentence2)
            for pair in self.of_category("negation")
            for paraphrase in paraphrases.get(pair.sentence1, [])
        ]

    def sentences(self) -> list[str]:
        """Every distinct text of the set, in first-seen order (each is embedded once)."""
        seen: dict[str, None] = {}
        for pair in self.pairs:
            seen.setdefault(pair.sentence1)
            seen.setdefault(pair.sentence2)
        return list(seen)

    def counts(self) -> dict[str, int]:
        return {category: len(self.of_category(category)) for category in CATEGORIES}


def _parse_record(record: dict, path: Path, line: int) -> EvalPair:
    for field in REQUIRED_FIELDS:
        if field not in record:
            raise InputError("missing required field", path=path, line=line, field=field)
    for field in ("sentence1", "sentence2"):
        value = record[field]
        if not isinstance(value, str):
            raise InputError(f"must be a string, got {type(value).__name__}", path=path, line=line, field=field)
        if not value.strip():
            raise InputError("must not be empty or whitespace", path=path, line=line, field=field)
    category = record["category"]
    if category not in CATEGORIES:
        raise InputError(
            f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}",
            path=path,
            line=line,
            field="category",
        )
    domain = record.get("domain")
    if domain is not None and (not isinstance(domain, str) or not domain.strip()):
        raise InputError("must be a non-empty string when given", path=path, line=line, field="domain")
    return EvalPair(record["sentence1"].strip(), record["sentence2"].strip(), category, domain, line)


def load_eval_set(name_or_path: str | Path) -> EvalSet:
    """Load and validate an evaluation set: a bundled name (``cardiology``...) or a JSONL path.

    Raises :class:`InputError` naming the file, line and field of the first bad record.
    """
    bundled = bundled_eval_sets()
    text = str(name_or_path)
    if text in bundled:
        path, name = bundled[text], text
    else:
        path = Path(name_or_path).expanduser()
        name = path.stem
        if not path.exists():
            if path.suffix == "" and "/" not in text:
                raise UnknownNameError("evaluation set", text, bundled, hint="Or pass the path of a JSONL file.")
            raise InputError("file not found", path=path)
        if not path.is_file():
            raise InputError("not a file", path=path)
    try:
        pairs = [_parse_record(record, path, line) for line, record in iter_jsonl(path)]
    except InputError as exc:
        # A CSV or spreadsheet export fails as JSON on its first line: say what is read instead.
        not_json = exc.field is None and exc.reason.startswith(("malformed JSON", "expected a JSON"))
        if not_json and path.suffix.lower() != ".jsonl":
            kind = f"a {path.suffix} file" if path.suffix else "a file without the .jsonl suffix"
            raise InputError(
                f"{kind} is not a supported evaluation-set format ({exc.reason}): give a JSONL file, one JSON "
                "object a line with sentence1, sentence2 and category, or a bundled set's name",
                path=path,
                line=exc.line,
            ) from None
        raise
    if not pairs:
        raise InputError("no pairs: the file is empty", path=path)
    return EvalSet(name=name, path=path, sha256=sha256_file(path), pairs=tuple(pairs))
