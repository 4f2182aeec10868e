"""``cardiolora data ...``: build training pairs from ontologies, corpora and user files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cardiolora.cli.common import app, console, plain, stage_progress, user_errors
from cardiolora.data.categories import DEFAULT_REPLAY_RATIO
from cardiolora.errors import CardioloraError, InputError

data_app = typer.Typer(
    help="Build clean, deduplicated, leak-free training pairs.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(data_app, name="data")

KeepLeaksOption = Annotated[
    bool,
    typer.Option(
        "--keep-leaks",
        help="Keep pairs the leak guard would drop (texts of the bundled evaluation sets): for data you "
        "will never evaluate on the bundled sets. They are still listed in NAME.dropped.jsonl.",
    ),
]
ExcludeEvalOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--exclude-eval",
        metavar="FILE",
        help="An evaluation set (JSONL) whose texts, and near duplicates, must not appear in training; "
        "repeatable. The bundled sets are always excluded.",
    ),
]


def _parse_weights(
    items: list[str] | None, defaults: dict[str, float] | None = None, relations=None, flag: str = "--weight"
) -> dict[str, float]:
    from cardiolora.data.ontology_pairs import DEFAULT_WEIGHTS, RELATIONS

    weights = dict(DEFAULT_WEIGHTS if defaults is None else defaults)
    relations = RELATIONS if relations is None else relations
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise CardioloraError(f"{flag} takes RELATION=NUMBER, got {item!r}")
        if name not in relations:
            raise CardioloraError(f"{flag}: unknown relation {name!r}; known: {', '.join(relations)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise CardioloraError(f"{flag} {name}: {value!r} is not a number") from None
    return weights


def _parse_range(text: str, flag: str = "--disease-findings") -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        return (int(low), int(high)) if sep else (int(low), int(low))
    except ValueError:
        raise CardioloraError(f"{flag} takes FEWEST-MOST (two whole numbers, e.g. 4-7), got {text!r}") from None


def print_datacard_summary(result) -> None:
    """The counts of a built dataset; paths and relation names (a user file's) printed literally."""
    card = result.card
    # The heading as a line of its own: a table title wraps at the (narrow) table's width.
    console.print(f"{plain(result.path)}: {card['n_pairs']} pairs", soft_wrap=True, highlight=False)
    table = Table()
    table.add_column("relation")
    table.add_column("pairs", justify="right")
    for relation, count in card["by_relation"].items():
        table.add_row(plain(relation), str(count))
    console.print(table)
    removed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in card["removed"].items())
    console.print(f"removed: {plain(removed)}")
    from cardiolora.data.build import dropped_path

    guarded = card["removed"].get("evaluation_text", 0) + card["removed"].get("evaluation_pair", 0)
    kept = card["removed"].get("kept_leaks")
    if guarded or kept:
        what = "flagged (kept: --keep-leaks)" if kept else "dropped"
        console.print(f"pairs the leak guard {what}, each with its reason: {plain(dropped_path(result.path))}")
    console.print(f"data card: {plain(result.datacard_json)}, {plain(result.datacard_md)}")


@data_app.command("ontology")
@user_errors
def ontology(
    out: Annotated[Path, typer.Option("--out", "-o", help="Pairs JSONL to write (data card beside it).")],
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", metavar="NAME", help="hpo and/or icd10cm; repeatable. Default: both."),
    ] = None,
    branch: Annotated[
        str, typer.Option(help="The target organ system: cardiovascular, respiratory, renal, nervous, ...")
    ] = "cardiovascular",
    replay_ratio: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="RATIO",
            help="Replay pairs from the other organ systems per target pair, so that training keeps the rest "
            "of medicine in place (0: none).",
        ),
    ] = DEFAULT_REPLAY_RATIO,
    replay_branches: Annotated[
        list[str] | None,
        typer.Option(
            "--replay-branch", metavar="BRANCH", help="An organ system to replay; repeatable. Default: every other one."
        ),
    ] = None,
    weights: Annotated[
        list[str] | None,
        typer.Option(
            "--weight", metavar="RELATION=PAIRS", help="Pairs per concept of a relation (0 disables); repeatable."
        ),
    ] = None,
    diseases: Annotated[
        bool,
        typer.Option(
            "--diseases/--no-diseases",
            help="Add sentence-level pairs from HPO's disease annotations: described patients -> diagnosis, two "
            "descriptions of one disease, findings reworded (hard negatives share words, not meaning). On by "
            "default.",
        ),
    ] = True,
    disease_weights: Annotated[
        list[str] | None,
        typer.Option(
            "--disease-weight",
            metavar="RELATION=PAIRS",
            help="Pairs per disease of presentation, presentation-pair or finding-swap (0 disables); repeatable.",
        ),
    ] = None,
    disease_findings: Annotated[
        str,
        typer.Option(
            "--disease-findings",
            metavar="FEWEST-MOST",
            help="Findings in one described patient, e.g. 4-7 (more findings: longer, vignette-like descriptions).",
        ),
    ] = "2-4",
    statements: Annotated[
        bool,
        typer.Option(
            "--statements/--no-statements",
            help="Add the bundled clinical statement bank: one fact in other words (positives), look-alike "
            "statements of another fact (negatives), descriptions -> their term. On by default.",
        ),
    ] = True,
    statement_weights: Annotated[
        list[str] | None,
        typer.Option(
            "--statement-weight",
            metavar="RELATION=PAIRS",
            help="Pairs per bank entry of statement-paraphrase, statement-term, term-statement or vignette-term "
            "(0 disables); repeatable.",
        ),
    ] = None,
    exclude_eval: ExcludeEvalOption = None,
    hard_negative_rate: Annotated[float, typer.Option(help="Share of lexically similar negatives.")] = 0.5,
    sentence_rate: Annotated[float, typer.Option(help="Share of texts placed in clinical sentences.")] = 0.3,
    definition_negatives: Annotated[
        bool,
        typer.Option(
            "--definition-negatives/--term-negatives",
            help="A definition pair's negative: another concept's definition (same form as the positive) or its name.",
        ),
    ] = False,
    max_per_category: Annotated[
        int, typer.Option(min=1, metavar="N", help="ICD codes kept per 3-character category.")
    ] = 15,
    max_anchors_per_category: Annotated[
        int, typer.Option(min=1, metavar="N", help="Anchor concepts per category.")
    ] = 300,
    seed: int = 0,
) -> None:
    """Pairs from the Human Phenotype Ontology and ICD-10-CM, by clinical category (the recommended recipe)."""
    from cardiolora.data import OntologyRecipe, build_ontology_dataset
    from cardiolora.data.leakage import bundled_guard

    bundled_guard(exclude_eval or [])  # validates the --exclude-eval files before any work
    recipe = OntologyRecipe(
        weights=_parse_weights(weights),
        hard_negative_rate=hard_negative_rate,
        sentence_rate=sentence_rate,
        definition_negatives=definition_negatives,
        max_anchors_per_category=max_anchors_per_category,
        seed=seed,
    )
    disease_recipe = statement_recipe = None  # --no-diseases / --no-statements
    if diseases or disease_weights:
        from cardiolora.data.diseases import RELATIONS as DISEASE_RELATIONS
        from cardiolora.data.diseases import DiseaseRecipe

        parsed = _parse_weights(disease_weights, DiseaseRecipe().weights, DISEASE_RELATIONS, "--disease-weight")
        disease_recipe = DiseaseRecipe(weights=parsed, findings=_parse_range(disease_findings), seed=seed)
    if statements or statement_weights:
        from cardiolora.data.statements import RELATIONS as STATEMENT_RELATIONS
        from cardiolora.data.statements import StatementRecipe

        parsed = _parse_weights(statement_weights, StatementRecipe().weights, STATEMENT_RELATIONS, "--statement-weight")
        statement_recipe = StatementRecipe(weights=parsed, seed=seed)
    with stage_progress("building pairs from the ontologies") as progress:
        result = build_ontology_dataset(
            out,
            branch=branch,
            sources=sources or ["hpo", "icd10cm"],
            recipe=recipe,
            replay_ratio=replay_ratio,
            replay_branches=replay_branches or None,
            max_per_category=max_per_category,
            exclude_eval=exclude_eval or [],
            diseases=disease_recipe,
            statements=statement_recipe,
            progress=progress,
        )
    print_datacard_summary(result)


@data_app.command("corpus")
@user_errors
def corpus(
    inputs: Annotated[
        list[Path], typer.Argument(metavar="INPUT", help="Files (.txt .md .pdf .html .jsonl) or directories.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sentences JSONL to write (card beside it).")],
    min_words: Annotated[int, typer.Option(min=1, metavar="N", help="Shorter sentences are dropped.")] = 4,
    max_words: Annotated[int, typer.Option(min=1, metavar="N", help="Longer sentences are dropped.")] = 80,
    near_duplicate_threshold: Annotated[
        float,
        typer.Option(
            min=0.1, max=1.0, metavar="J", help="MinHash Jaccard similarity above which a sentence is a near duplicate."
        ),
    ] = 0.75,
    no_near_duplicates: Annotated[
        bool, typer.Option("--no-near-duplicates", help="Skip MinHash near-duplicate removal.")
    ] = False,
    field: Annotated[str, typer.Option(help="Text field of .jsonl inputs.")] = "text",
) -> None:
    """Clean, split and deduplicate a corpus into sentences with their source, page and paragraph."""
    from rich.progress import Progress

    from cardiolora.data.build import build_corpus_dataset
    from cardiolora.data.corpus import CorpusSettings, expand_inputs

    if min_words > max_words:
        raise CardioloraError(f"--min-words {min_words} is above --max-words {max_words}")
    settings = CorpusSettings(
        min_words=min_words,
        max_words=max_words,
        near_duplicate_threshold=near_duplicate_threshold,
        near_duplicates=not no_near_duplicates,
        jsonl_field=field,
    )
    files = expand_inputs(inputs)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("reading corpus", total=len(files))
        result = build_corpus_dataset(files, out, settings, progress=lambda _path: progress.advance(task))
    card = result.card
    console.print(
        f"wrote {card['written']} sentences of {card['sentences_seen']} from {card['documents']} files to "
        f"{plain(out)}; removed: {', '.join(f'{k} {v}' for k, v in card['removed'].items()) or 'none'}"
    )
    console.print(f"corpus card: {plain(result.datacard_json)}, {plain(result.datacard_md)}")


@data_app.command("pairs")
@user_errors
def pairs(
    input_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="INPUT",
            help="A sentences JSONL from `data corpus` (rows with text) or your pairs (JSONL or CSV with anchor, "
            "positive): the same as --corpus or --user-file, told apart by their columns.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Pairs JSONL to write (data card beside it).")] = ...,
    corpus_file: Annotated[Path | None, typer.Option("--corpus", help="Sentences JSONL from `data corpus`.")] = None,
    method: Annotated[str, typer.Option(help="neighbours or paraphrase (with --corpus).")] = "neighbours",
    generator: Annotated[
        str | None, typer.Option(help="Local causal LM for paraphrases: zoo name or directory.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL for paraphrases (e.g. http://127.0.0.1:8000/v1).")
    ] = None,
    endpoint_model: Annotated[str, typer.Option(help="Model name sent to --endpoint.")] = "default",
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the endpoint's API key.")
    ] = "OPENAI_API_KEY",
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Paraphrase at most this many sentences.")
    ] = None,
    user_file: Annotated[
        Path | None, typer.Option("--user-file", help="Your pairs: JSONL or CSV with anchor, positive[, negative].")
    ] = None,
    exclude_eval: ExcludeEvalOption = None,
    keep_leaks: KeepLeaksOption = False,
) -> None:
    """Pairs from a corpus (neighbouring sentences or generated paraphrases) or from your own file.

    Pairs that carry a text of an evaluation set are dropped (the leak guard) and named, each with its
    reason, in NAME.dropped.jsonl beside the output; --keep-leaks keeps them."""
    import os

    from rich.progress import Progress

    from cardiolora.data import finish_dataset, load_pairs
    from cardiolora.data.leakage import bundled_guard
    from cardiolora.data.pairs import (
        EndpointParaphraser,
        LocalLMParaphraser,
        neighbour_pairs,
        paraphrase_pairs,
        read_corpus,
    )

    if input_file is not None:
        if corpus_file is not None or user_file is not None:
            raise CardioloraError("give the input once: INPUT, --corpus or --user-file")
        if _is_pairs_file(input_file):
            user_file = input_file
        else:
            corpus_file = input_file
    if (corpus_file is None) == (user_file is None):
        raise CardioloraError("give exactly one input: INPUT, --corpus or --user-file")
    bundled_guard(exclude_eval or [])
    settings: dict = {"builder": "pairs", "method": method if corpus_file else "user-file"}
    removed: dict[str, int] = {}
    if user_file is not None:
        built = load_pairs(user_file)
        settings["user_file"] = str(user_file)
    elif method == "neighbours":
        built = neighbour_pairs(read_corpus(corpus_file))
        settings["corpus"] = str(corpus_file)
    elif method == "paraphrase":
        if (generator is None) == (endpoint is None):
            raise CardioloraError("--method paraphrase needs exactly one of --generator or --endpoint")
        records = list(read_corpus(corpus_file))  # validated in full before a model is loaded
        if generator is not None:
            paraphraser = LocalLMParaphraser(generator)
        else:
            paraphraser = EndpointParaphraser(endpoint, endpoint_model, os.environ.get(api_key_env))
        total = min(len(records), limit or len(records))
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"paraphrasing with {plain(paraphraser.name)}", total=total)
            built, rejected = paraphrase_pairs(
                records, paraphraser, limit=limit, progress=lambda n: progress.advance(task, n)
            )
        removed.update({f"paraphrase_{k}": v for k, v in rejected.items()})
        settings.update({"corpus": str(corpus_file), "generator": paraphraser.name, "limit": limit})
    else:
        raise CardioloraError(f"--method must be neighbours or paraphrase, got {method!r}")
    if not built:
        raise CardioloraError("no pairs were produced; nothing written")
    result = finish_dataset(
        built,
        out,
        name=out.stem,
        settings=settings,
        removed=removed,
        exclude_eval=exclude_eval or [],
        keep_leaks=keep_leaks,
    )
    print_datacard_summary(result)


def _is_pairs_file(path: Path) -> bool:
    """A CSV, or a JSONL whose first row has ``anchor``, is pairs; a JSONL with ``text`` a corpus."""
    from cardiolora.io import iter_jsonl

    if path.suffix.lower() == ".csv":
        return True
    if not path.is_file():
        raise InputError("file not found", path=path)
    for line, record in iter_jsonl(path):
        if "anchor" in record:
            return True
        if "text" in record:
            return False
        raise InputError(
            "neither a pairs row (anchor, positive) nor a corpus row (text)", path=path, line=line, field="anchor"
        )
    raise InputError("empty: no rows", path=path)


@data_app.command("mine-negatives")
@user_errors
def mine_negatives(
    pairs_file: Annotated[Path, typer.Argument(metavar="PAIRS_FILE", help="Pairs JSONL or CSV.")],
    out: Annotated[Path, typer.Option("--out", "-o")],
    method: Annotated[str, typer.Option(help="embedding (similarity band) or bm25.")] = "embedding",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Embedding model for --method embedding.")] = None,
    max_score: Annotated[float, typer.Option(help="Skip candidates more similar to the anchor than this.")] = 0.85,
    relative_margin: Annotated[
        float, typer.Option(help="Skip candidates within this share of the positive's score.")
    ] = 0.05,
    overwrite: Annotated[bool, typer.Option(help="Replace negatives the pairs already have.")] = False,
    relation: Annotated[
        list[str] | None,
        typer.Option(
            "--relation",
            help="Mine only pairs of this relation (repeatable; --method embedding), e.g. sibling; the others keep "
            "their negatives.",
        ),
    ] = None,
    exclude_eval: ExcludeEvalOption = None,
) -> None:
    """Add a hard negative to each pair: by embedding similarity within a band, or by BM25."""
    from cardiolora.data import finish_dataset, load_pairs
    from cardiolora.data.leakage import bundled_guard
    from cardiolora.data.negatives import mine_negatives as mine

    if method == "embedding" and not model:
        raise CardioloraError("--method embedding needs --model")
    bundled_guard(exclude_eval or [])
    pairs_in = load_pairs(pairs_file)
    kwargs = {"overwrite": overwrite}
    if method == "embedding":
        kwargs.update(max_score=max_score, relative_margin=relative_margin)
        if relation:
            known = {p.relation for p in pairs_in}
            unknown = sorted(set(relation) - known)
            if unknown:
                have = ", ".join(sorted(known))
                raise CardioloraError(
                    f"--relation {', '.join(unknown)}: no such relation in {pairs_file} (it has {have})"
                )
            kwargs["relations"] = sorted(relation)
    elif relation:
        raise CardioloraError("--relation works with --method embedding only")
    with console.status(f"mining negatives ({plain(method)})..."):
        mined = mine(pairs_in, method, model, **kwargs)
    settings = {"builder": "mine-negatives", "input": str(pairs_file), "method": method, "model": model, **kwargs}
    result = finish_dataset(mined, out, name=out.stem, settings=settings, exclude_eval=exclude_eval or [])
    print_datacard_summary(result)


@data_app.command("split")
@user_errors
def split(
    pairs_file: Annotated[Path, typer.Argument(metavar="PAIRS_FILE", help="Pairs JSONL or CSV.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for train/validation/test JSONL.")],
    validation: Annotated[float, typer.Option(help="Share of groups for validation.")] = 0.05,
    test: Annotated[float, typer.Option(help="Share of groups for test.")] = 0.0,
    seed: int = 0,
    exclude_eval: ExcludeEvalOption = None,
) -> None:
    """Seeded splits that keep each concept or paragraph in one split; the leak guard runs on each.

    All parts or none: they are built in a private directory that becomes ``--out`` at the end."""
    from cardiolora.data import load_pairs
    from cardiolora.data.leakage import bundled_guard
    from cardiolora.data.splits import check_split_directory, split_pairs, write_splits

    check_split_directory(out)  # before any work: a file or a filled directory is never touched
    bundled_guard(exclude_eval or [])
    parts = split_pairs(load_pairs(pairs_file), validation=validation, test=test, seed=seed)
    settings = {"builder": "split", "input": str(pairs_file), "validation": validation, "test": test, "seed": seed}
    results = write_splits(parts, out, settings=settings, exclude_eval=exclude_eval or [])
    for name, result in results.items():
        console.print(f"{name}: {result.card['n_pairs']} pairs -> {plain(result.path)}")
