"""``cardiolora data ...``: build training pairs from ontologies, corpora and user files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cardiolora.cli.common import app, console, user_errors
from cardiolora.errors import CardioloraError

data_app = typer.Typer(help="Build clean, deduplicated, leak-free training pairs.", no_args_is_help=True)
app.add_typer(data_app, name="data")

ExcludeEvalOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--exclude-eval",
        help="An evaluation set (JSONL) whose texts, and near duplicates, must not appear in training; "
        "repeatable. The bundled sets are always excluded.",
    ),
]


def _parse_weights(items: list[str] | None) -> dict[str, float]:
    from cardiolora.data.ontology import DEFAULT_WEIGHTS, RELATIONS

    weights = dict(DEFAULT_WEIGHTS)
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise CardioloraError(f"--weight takes RELATION=NUMBER, got {item!r}")
        if name not in RELATIONS:
            raise CardioloraError(f"--weight: unknown relation {name!r}; known: {', '.join(RELATIONS)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise CardioloraError(f"--weight {name}: {value!r} is not a number") from None
    return weights


def print_datacard_summary(result) -> None:
    card = result.card
    table = Table(title=f"{result.path}: {card['n_pairs']} pairs")
    table.add_column("relation")
    table.add_column("pairs", justify="right")
    for relation, count in card["by_relation"].items():
        table.add_row(relation, str(count))
    console.print(table)
    removed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in card["removed"].items())
    console.print(f"removed: {removed}")
    console.print(f"data card: {result.datacard_json}, {result.datacard_md}")


@data_app.command("ontology")
@user_errors
def ontology(
    out: Annotated[Path, typer.Option("--out", "-o", help="Pairs JSONL to write (data card beside it).")],
    sources: Annotated[
        list[str] | None, typer.Option("--source", help="hpo and/or icd10cm; repeatable. Default: hpo.")
    ] = None,
    branch: Annotated[str, typer.Option(help="cardiovascular, respiratory or renal.")] = "cardiovascular",
    weights: Annotated[
        list[str] | None,
        typer.Option("--weight", help="RELATION=PAIRS_PER_CONCEPT (0 disables); repeatable."),
    ] = None,
    exclude_eval: ExcludeEvalOption = None,
    hard_negative_rate: Annotated[float, typer.Option(help="Share of lexically similar negatives.")] = 0.5,
    sentence_rate: Annotated[float, typer.Option(help="Share of texts placed in clinical sentences.")] = 0.3,
    max_per_category: Annotated[int, typer.Option(min=1, help="ICD codes kept per 3-character category.")] = 15,
    max_anchors_per_category: Annotated[int, typer.Option(min=1)] = 300,
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
        max_anchors_per_category=max_anchors_per_category,
        seed=seed,
    )
    with console.status("building pairs from the ontologies..."):
        result = build_ontology_dataset(
            out,
            branch=branch,
            sources=sources or ["hpo"],
            recipe=recipe,
            max_per_category=max_per_category,
            exclude_eval=exclude_eval or [],
        )
    print_datacard_summary(result)
