"""Evaluation sets: pairs of clinical texts labelled by how they relate.

One JSON object a line::

    {"sentence1": "Mitral stenosis", "sentence2": "Aortic stenosis", "category": "similar",
     "form": "term-term", "domain": "valvular"}

``category`` is one of ``similar`` (related concepts of one disease category, or the same meaning),
``different`` (unrelated), ``negation`` (a finding and its negation) or ``paraphrase`` (the finding
and a true rewording). A ``paraphrase`` row and a ``negation`` row that share ``sentence1`` form a
negation test. ``form`` (optional) says what the two texts are: ``term-term`` (two terms),
``sentence-sentence`` (two clinical sentences) or ``term-description`` (a term and a description of
a condition); results are also given per form. ``domain`` (optional) groups pairs for per-domain
separation. Other keys (``id``, ``note``...) are kept out of the metrics and ignored.

The bundled sets are *form-balanced* (:func:`form_balance_problems`): every anchor appears in one
similar and one different pair of the same form, so that neither the form of the texts nor their
length can tell the two apart (:mod:`cardiolora.evaluation.surface` checks the words too).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cardiolora.errors import InputError, UnknownNameError
from cardiolora.io import iter_jsonl, sha256_file

CATEGORIES = ("similar", "different", "negation", "paraphrase")
FORMS = ("term-term", "sentence-sentence", "term-description")
REQUIRED_FIELDS = ("sentence1", "sentence2", "category")
# Bundled sets that are not reported by default: ``-dev`` sets choose recipes, ``-v1`` sets are the
# earlier, unbalanced sets kept for continuity. The leak guard keeps all of them out of training.
DEV_SUFFIX = "-dev"
LEGACY_SUFFIX = "-v1"


def bundled_eval_sets() -> dict[str, Path]:
    """The evaluation sets shipped with cardiolora, by name."""
    root = resources.files("cardiolora") / "resources" / "evalsets"
    return {Path(str(entry)).stem: Path(str(entry)) for entry in root.iterdir() if entry.name.endswith(".jsonl")}


def report_set_names() -> list[str]:
    """The bundled test sets, which report results (not the dev sets, not the legacy ones), sorted."""
    return sorted(n for n in bundled_eval_sets() if not n.endswith((DEV_SUFFIX, LEGACY_SUFFIX)))


def dev_set_names() -> list[str]:
    """The bundled dev sets, on which recipes are chosen, sorted."""
    return sorted(n for n in bundled_eval_sets() if n.endswith(DEV_SUFFIX))


def default_eval_sets(target: str = "cardiology") -> list[str]:
    """Every bundled test set, the target first: one evaluation shows the gain and what it cost elsewhere.
    A dev target (``cardiology-dev``) gets the dev sets instead: recipes are chosen on them."""
    names = dev_set_names() if target.endswith(DEV_SUFFIX) else report_set_names()
    return [target, *(n for n in names if n != target)] if target in names else names


@dataclass(frozen=True)
class EvalPair:
    sentence1: str
    sentence2: str
    category: str
    domain: str | None
    line: int
    form: str | None = None


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

    def forms(self) -> list[str]:
        """The forms of the set's similar and different pairs, in :data:`FORMS` order."""
        present = {p.form for p in self.pairs if p.form and p.category in ("similar", "different")}
        return [f for f in FORMS if f in present]


def form_balance_problems(eval_set: EvalSet) -> list[str]:
    """What keeps ``eval_set`` from being form-balanced, one sentence each (empty: balanced).

    Balanced: every similar and different pair has a form, and every anchor (``sentence1``) is in
    exactly one similar and one different pair, both of the same form."""
    problems = []
    by_anchor: dict[str, list[EvalPair]] = {}
    for pair in eval_set.pairs:
        if pair.category not in ("similar", "different"):
            continue
        if pair.form is None:
            problems.append(f"line {pair.line}: no form")
        by_anchor.setdefault(pair.sentence1, []).append(pair)
    for anchor, pairs in by_anchor.items():
        categories = sorted(p.category for p in pairs)
        if categories != ["different", "similar"]:
            lines = ", ".join(str(p.line) for p in pairs)
            problems.append(f"line {lines}: {anchor!r} is in {categories} pairs, not one similar and one different")
        elif pairs[0].form != pairs[1].form:
            problems.append(f"line {pairs[0].line}, {pairs[1].line}: {anchor!r}'s pairs differ in form")
    return problems


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
    form = record.get("form")
    if form is not None and form not in FORMS:
        raise InputError(
            f"unknown form {form!r}; expected one of {', '.join(FORMS)}", path=path, line=line, field="form"
        )
    return EvalPair(record["sentence1"].strip(), record["sentence2"].strip(), category, domain, line, form)


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
