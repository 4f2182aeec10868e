"""``cardiolora index build``, ``cardiolora search`` and ``cardiolora evaluate-retrieval``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cardiolora.cli.common import (
    AdapterOption,
    ModelOption,
    TrustOption,
    app,
    console,
    plain,
    quiet_libraries,
    user_errors,
)
from cardiolora.errors import CardioloraError

index_app = typer.Typer(help="Semantic search indexes (FAISS, embedded; no server).", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("build")
@user_errors
def index_build(
    model: ModelOption,
    corpus: Annotated[Path, typer.Option("--corpus", help="JSONL with a text field (and optionally an id).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index directory to write.")],
    adapter: AdapterOption = None,
    kind: Annotated[str, typer.Option("--kind", help="flat (exact) or hnsw (approximate, for large corpora).")] = "flat",
    text_field: Annotated[str, typer.Option("--field", help="The text field of each row.")] = "text",
    id_field: Annotated[str, typer.Option("--id-field", help="The id field (default: the row number).")] = "id",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing index (only an index directory; the old one stays until the new one is complete).")
    ] = False,
    trust_remote_code: TrustOption = False,
) -> None:
    """Embed a corpus (passage role) into a FAISS index directory."""
    from cardiolora.embedding import Embedder
    from cardiolora.io import lock_directory
    from cardiolora.serve.search import INDEX_KINDS, build_index, check_index_out, read_corpus

    if kind not in INDEX_KINDS:
        raise CardioloraError(f"--kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}")
    check_index_out(out, overwrite)  # before the corpus is read and the model loads
    rows = read_corpus(corpus, text_field, id_field)
    quiet_libraries()
    # Locked from here: a second build into the same directory is refused before it embeds anything.
    with lock_directory(out, what="index directory"):
        embedder = Embedder.load(model, adapter=adapter, trust_remote_code=trust_remote_code)
        build_index(embedder, rows, out, kind=kind, overwrite=overwrite)
    console.print(f"indexed {len(rows):,} texts ({kind}, {embedder.dimension} dimensions) into {plain(out)}")


@app.command()
@user_errors
def search(
    index: Annotated[Path, typer.Argument(help="An index directory from `cardiolora index build`.")],
    query: Annotated[str, typer.Argument(help="The query text.")],
    k: Annotated[int, typer.Option("-k", help="Results to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """The k corpus texts nearest to the query (the index's model and adapter embed it)."""
    from cardiolora.serve.search import SearchIndex

    if not query.strip():
        raise CardioloraError("the query is empty")
    if k < 1:
        raise CardioloraError("-k must be >= 1")
    quiet_libraries()
    hits = SearchIndex.open(index).search([query], k=k)[0]
    if as_json:
        for score, row in hits:
            print(json.dumps({"score": round(score, 6), **row}, ensure_ascii=False))
        return
    # The query, ids and corpus texts are the user's: printed literally, never read as markup.
    table = Table(title=plain(f"{query!r} in {index}"))
    for column in ("rank", "score", "id", "text"):
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for rank, (score, row) in enumerate(hits, 1):
        table.add_row(str(rank), f"{score:.3f}", plain(row["id"]), plain(row["text"]))
    console.print(table)


@app.command("evaluate-retrieval")
@user_errors
def evaluate_retrieval_command(
    index: Annotated[Path | None, typer.Option("--index", help="An index directory (with --queries).")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help='JSONL {"query": ..., "relevant": [ids]}.')] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="With --eval-set: the model to test.")] = None,
    adapter: AdapterOption = None,
    eval_set: Annotated[
        str | None, typer.Option("--eval-set", "-e", help="Bundled name or JSONL: each similar/paraphrase pair's first text queries for its second.")
    ] = None,
    ks: Annotated[list[int] | None, typer.Option("-k", help="Cut-offs; repeatable (default 1 5 10).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the metrics as JSON.")] = None,
) -> None:
    """Recall@k, MRR and nDCG@k: an index against query/relevant pairs, or a model on an
    evaluation set turned into a retrieval task."""
    from cardiolora.io import write_json_atomic
    from cardiolora.serve.search import (
        SearchIndex,
        build_index,
        eval_set_retrieval,
        evaluate_retrieval,
        read_queries,
    )

    ks = sorted(set(ks or [1, 5, 10]))
    if min(ks) < 1:
        raise CardioloraError("-k must be >= 1")
    quiet_libraries()
    if index is not None and queries is not None and eval_set is None:
        metrics = evaluate_retrieval(SearchIndex.open(index), read_queries(queries), ks)
        source = {"index": str(index), "queries": str(queries)}
    elif eval_set is not None and model is not None and index is None and queries is None:
        import tempfile

        from cardiolora.embedding import Embedder
        from cardiolora.evaluation import load_eval_set

        loaded = load_eval_set(eval_set)
        corpus, pairs = eval_set_retrieval(loaded)
        embedder = Embedder.load(model, adapter=adapter)
        with tempfile.TemporaryDirectory() as tmp:
            built = build_index(embedder, corpus, Path(tmp) / "index")
            metrics = evaluate_retrieval(SearchIndex.open(built, embedder), pairs, ks, exclude_self=True)
        source = {"model": model, "adapter": str(adapter) if adapter else None, "eval_set": loaded.name}
    else:
        raise CardioloraError("give either --index and --queries, or --model and --eval-set")
    table = Table(title="retrieval")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, str(value) if name == "queries" else f"{value:.3f}")
    console.print(table)
    if out is not None:
        write_json_atomic(out, {"schema": "cardiolora.retrieval/1", **source, "metrics": metrics})
        console.print(f"written to {plain(out)}")
