"""``cardiolora index build``, ``cardiolora search`` and ``cardiolora evaluate-retrieval``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cardiolora.cli.common import (
    AdapterOption,
    EngineOption,
    ModelOption,
    RayAddressOption,
    TrustOption,
    WorkersOption,
    app,
    console,
    eval_sets_option,
    plain,
    quiet_libraries,
    user_errors,
)
from cardiolora.errors import CardioloraError

index_app = typer.Typer(
    help="Semantic search indexes (FAISS, embedded; no server).", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(index_app, name="index")

RetrievalSetsOption = eval_sets_option(
    "Bundled name or JSONL; repeatable, each set is evaluated: each similar/paraphrase pair's "
    "first text queries for its second among all the set's texts."
)


@index_app.command("build")
@user_errors
def index_build(
    corpus_file: Annotated[
        Path | None,
        typer.Argument(metavar="CORPUS", help="The texts, positionally as for `data corpus` (or --corpus)."),
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus",
            metavar="FILE",
            help="The texts: .jsonl (a text field, optionally an id), .txt (one text a line), "
            "or .md, .html, .pdf (one text a paragraph).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Index directory to write.")] = ...,
    model: ModelOption = None,
    adapter: AdapterOption = None,
    index_type: Annotated[
        str | None,
        typer.Option(
            "--index-type",
            "--kind",
            metavar="TYPE",
            help="flat (exact), hnsw (graph), ivf-flat or ivf-pq (inverted file; ivf-pq compressed, for "
            "corpora that outgrow memory). Default: by corpus size (flat below 100,000 texts, hnsw below "
            "500,000, ivf-pq from there).",
        ),
    ] = None,
    nlist: Annotated[
        int | None, typer.Option("--nlist", metavar="N", help="IVF cells (default: 4 x sqrt(texts)).")
    ] = None,
    pq_m: Annotated[
        int | None,
        typer.Option("--pq-m", metavar="M", help="ivf-pq codes a vector; must divide the dimension (default: dim/3)."),
    ] = None,
    pq_nbits: Annotated[
        int | None, typer.Option("--pq-nbits", metavar="BITS", help="ivf-pq bits a code (default 8).")
    ] = None,
    nprobe: Annotated[
        int | None,
        typer.Option("--nprobe", metavar="N", help="IVF cells a search probes by default (default: nlist / 16)."),
    ] = None,
    rerank: Annotated[
        int | None,
        typer.Option(
            "--rerank",
            metavar="N",
            help="ivf-pq: re-score the N best candidates by exact cosine from float32 vectors kept on disk "
            "(vectors.f32, memory-mapped; 0: codes only, no file). Default 100.",
        ),
    ] = None,
    check_recall: Annotated[
        int,
        typer.Option(
            "--check-recall",
            metavar="N",
            help="Print and record recall@10 against exact search for N stored vectors as queries (0: off).",
        ),
    ] = 0,
    text_field: Annotated[
        str, typer.Option("--field", metavar="NAME", help="The text field of each .jsonl row.")
    ] = "text",
    id_field: Annotated[
        str,
        typer.Option("--id-field", metavar="NAME", help="The id field of each .jsonl row (default: the row number)."),
    ] = "id",
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing index (only an index directory; the old one stays until the new one "
            "is complete).",
        ),
    ] = False,
    trust_remote_code: TrustOption = False,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    workers: WorkersOption = 2,
    shards: Annotated[
        Path | None,
        typer.Option(
            "--shards",
            metavar="DIR",
            help="Ray: where the vector shards go (default: OUT.shards beside the index); a rerun resumes there.",
        ),
    ] = None,
) -> None:
    """Embed a corpus (passage role) into a FAISS index directory."""
    from cardiolora.directories import lock_directory
    from cardiolora.embedding import Embedder
    from cardiolora.index import build_index, check_index_out, plan_recipe, read_corpus

    if (corpus_file is None) == (corpus is None):
        raise CardioloraError("give the corpus once: CORPUS or --corpus FILE")
    corpus = corpus_file or corpus
    recipe = dict(nlist=nlist, pq_m=pq_m, pq_nbits=pq_nbits, nprobe=nprobe, rerank=rerank)
    if check_recall < 0:
        raise CardioloraError(f"--check-recall must be >= 0, got {check_recall}")
    # The options checked before the corpus is read and the model loads (the dimension is not known
    # yet: --pq-m against it is checked again once the model is loaded, before anything is embedded).
    plan_recipe(1_000_000, 1 if pq_m is None else pq_m, index_type, **recipe)
    check_index_out(out, overwrite)
    if engine not in ("local", "ray"):
        raise CardioloraError(f"--engine must be local or ray, got {engine!r}")
    if engine == "ray":
        _build_index_on_ray(
            corpus, out, shards or out.with_name(out.name + ".shards"), model=model, adapter=adapter,
            index_type=index_type, recipe=recipe, check_recall=check_recall, text_field=text_field,
            id_field=id_field, overwrite=overwrite, trust_remote_code=trust_remote_code,
            ray_address=ray_address, workers=workers,
        )  # fmt: skip
        return
    if ray_address is not None or shards is not None:
        raise CardioloraError("--ray-address and --shards need --engine ray")
    rows = read_corpus(corpus, text_field, id_field)
    quiet_libraries()
    # Locked from here: a second build into the same directory is refused before it embeds anything.
    with lock_directory(out, what="index directory"):
        embedder = Embedder.load(model, adapter=adapter, trust_remote_code=trust_remote_code)
        console.print(f"embedding {len(rows):,} texts with {plain(embedder.spec.name)}")
        build_index(
            embedder,
            rows,
            out,
            index_type=index_type,
            overwrite=overwrite,
            show_progress=None,
            check_recall=check_recall,
            **recipe,
        )
    _print_built(out, len(rows), embedder.dimension)


def _print_built(out: Path, count: int, dimension: int) -> None:
    info = json.loads((out / "index.json").read_text())
    built = info["recipe"]
    shape = built["factory"] + (f", nprobe {built['nprobe']}" if built.get("nprobe") else "")
    shape += f", {built['rerank']} candidates re-ranked exactly" if built.get("rerank") else ""
    console.print(f"indexed {count:,} texts ({built['type']}: {shape}; {dimension} dimensions) into {plain(out)}")
    if "recall_check" in info:
        check = info["recall_check"]
        print(f"recall@10 {check['recall']:.4f}")
        console.print(f"(of {check['queries']:,} stored vectors as queries, against exact search)")


def _hit_origin(row: dict) -> str:
    """Where a corpus row came from, as far as it says: "notes.md page 3 paragraph 2, Treatment"."""
    parts = [str(row["source"])] if row.get("source") else []
    parts += [f"{key} {row[key]}" for key in ("page", "paragraph") if row.get(key) is not None]
    origin = " ".join(parts)
    return f"{origin}, {row['section']}" if row.get("section") else origin


def _build_index_on_ray(corpus: Path, out: Path, shards: Path, *, model, adapter, index_type, recipe, check_recall,
                        text_field, id_field, overwrite, trust_remote_code, ray_address, workers) -> None:  # fmt: skip
    """Embed on Ray into ``shards`` (resumable), then fill the index shard by shard: the vectors are
    never all in memory at once (for ivf-pq only their codes are)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from cardiolora.cli.shards import embed_with_ray
    from cardiolora.directories import lock_directory
    from cardiolora.distributed import iter_vector_shards, read_manifest
    from cardiolora.embedding import Embedder
    from cardiolora.index import build_index_from_chunks, describe_embedder

    embed_with_ray(
        [corpus], shards, model=model, adapter=adapter, role="passage", text_field=text_field, id_field=id_field,
        workers=workers, ray_address=ray_address, overwrite=overwrite, trust_remote_code=trust_remote_code,
    )  # fmt: skip
    count = sum(read_manifest(shards)["rows_per_shard_written"].values())
    quiet_libraries()
    with lock_directory(out, what="index directory"):
        # Loaded here only to describe the vectors (index.json): a search loads the model the same way.
        embedder = Embedder.load(model, adapter=adapter, trust_remote_code=trust_remote_code)
        columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("indexing", total=count)
            build_index_from_chunks(
                iter_vector_shards(shards), out, index_type=index_type, model_info=describe_embedder(embedder),
                count=count, check_recall=check_recall, overwrite=overwrite,
                progress=lambda rows: bar.advance(task, rows), **recipe,
            )  # fmt: skip
    _print_built(out, count, embedder.dimension)


@app.command()
@user_errors
def search(
    index: Annotated[Path, typer.Argument(metavar="INDEX", help="An index directory from `cardiolora index build`.")],
    query: Annotated[str, typer.Argument(metavar="QUERY", help="The query text.")],
    k: Annotated[int, typer.Option("-k", "--k", "--top-k", metavar="N", help="Results to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    nprobe: Annotated[
        int | None,
        typer.Option(
            "--nprobe",
            metavar="N",
            help="IVF indexes: cells to probe, 1..nlist (default: the index's; more is slower and finds more).",
        ),
    ] = None,
) -> None:
    """The k corpus texts nearest to the query (the index's model and adapter embed it)."""
    from cardiolora.index import SearchIndex
    from cardiolora.index.recipe import check_nprobe
    from cardiolora.index.search import read_index_info

    if not query.strip():
        raise CardioloraError("the query is empty")
    if k < 1:
        raise CardioloraError("-k/--top-k must be >= 1")
    check_nprobe(read_index_info(index), nprobe, f"{index} ")  # before the model loads
    quiet_libraries()
    hits = SearchIndex.open(index, nprobe=nprobe).search([query], k=k)[0]
    if as_json:
        for score, row in hits:
            print(json.dumps({"score": round(score, 6), **row}, ensure_ascii=False))
        return
    # The query, ids and corpus texts are the user's: printed literally, never read as markup.
    table = Table(title=plain(f"{query!r} in {index}"))
    # Rows of documents say where they came from (file, page, paragraph, section): an id alone does not.
    where = [_hit_origin(row) for _, row in hits]
    columns = ("rank", "score", "id", "text", *(("from",) if any(where) else ()))
    for column in columns:
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for rank, ((score, row), origin) in enumerate(zip(hits, where, strict=True), 1):
        cells = [str(rank), f"{score:.3f}", plain(row["id"]), plain(row["text"])]
        table.add_row(*cells, *((plain(origin),) if any(where) else ()))
    console.print(table)


@app.command("evaluate-retrieval")
@user_errors
def evaluate_retrieval_command(
    index: Annotated[
        Path | None, typer.Option("--index", metavar="DIR", help="An index directory (with --queries).")
    ] = None,
    # Brackets escaped: the help is rich markup, where a bare "[ids]" would be read as a style and vanish.
    queries: Annotated[
        Path | None,
        typer.Option("--queries", metavar="FILE", help='JSONL {"query": ..., "relevant": [ids]}.'),
    ] = None,
    model: ModelOption = None,
    adapter: AdapterOption = None,
    eval_sets: RetrievalSetsOption = None,
    ks: Annotated[
        list[int] | None, typer.Option("-k", metavar="K", help="Cut-offs; repeatable (default 1 5 10).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write the metrics as JSON.")] = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Recall@k, MRR and nDCG@k: an index against query/relevant pairs, or a model on evaluation
    sets turned into retrieval tasks (exact cosine ranking)."""
    from cardiolora.evaluation.retrieval import DEFAULT_KS

    ks = sorted(set(ks or DEFAULT_KS))
    if min(ks) < 1:
        raise CardioloraError("-k must be >= 1")
    if index is not None and queries is not None and not eval_sets:
        if model is not None or adapter is not None:
            raise CardioloraError("an index embeds queries with its own model and adapter: leave out --model/--adapter")
        title, results, document = _evaluate_index(index, queries, ks)
    elif eval_sets and index is None and queries is None:
        title, results, document = _evaluate_eval_sets(model, adapter, eval_sets, ks, trust_remote_code)
    else:
        raise CardioloraError("give either --index and --queries, or --eval-set (with --model and/or --adapter)")
    table = Table(title=plain(title))
    table.add_column("eval set" if eval_sets else "query file")
    base_rows = document.get("base_model_results")
    if base_rows:
        table.add_column("model")
    table.add_column("queries", justify="right")
    names = list(results[0].scores)
    for name in names:
        table.add_column(name, justify="right")
    for index, result in enumerate(results):
        if base_rows:  # the base model (adapter off) first, then the adapter, set by set
            base = base_rows[index]
            table.add_row(plain(base.task), "base model", str(base.queries), *(f"{base.scores[n]:.3f}" for n in names))
        label = ["adapted"] if base_rows else []
        table.add_row(plain(result.task), *label, str(result.queries), *(f"{result.scores[n]:.3f}" for n in names))
    document.pop("base_model_results", None)
    console.print(table)
    if out is not None:
        from cardiolora.io import write_json_atomic

        write_json_atomic(out, {"schema": "cardiolora.retrieval/1", **document})
        console.print(f"written to {plain(out)}")


def _evaluate_index(index: Path, queries: Path, ks: list[int]):
    """One index against one query file: (table title, [result], the --out document)."""
    from cardiolora.evaluation.retrieval import read_queries
    from cardiolora.index import SearchIndex, evaluate_retrieval

    pairs = read_queries(queries)  # checked before the model loads
    quiet_libraries()
    opened = SearchIndex.open(index)
    result = evaluate_retrieval(opened, pairs, ks, task=queries.name)
    source = {"index": str(index), "queries": str(queries)}
    adapter = opened.info.get("adapter") or "none"
    title = f"retrieval: index {index} (model {opened.info.get('model')}, adapter {adapter})"
    document = {
        **source,
        "metrics": result.to_dict(),
        "evaluations": [{**source, "metrics": result.to_dict()}],
    }
    return title, [result], document


def _evaluate_eval_sets(
    model: str | None, adapter: Path | None, names: list[str], ks: list[int], trust_remote_code: bool
):
    """A model on every evaluation set, each as a retrieval task: (title, results, the --out
    document, whose top-level ``eval_set`` and ``metrics`` are the first set's)."""
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import load_eval_set
    from cardiolora.evaluation.retrieval import evaluate_eval_set_retrieval

    # Every set is read and checked before the model loads.
    loaded = [load_eval_set(name) for name in dict.fromkeys(names)]
    quiet_libraries()
    embedder = Embedder.load(model, adapter=adapter, trust_remote_code=trust_remote_code)
    results = [evaluate_eval_set_retrieval(embedder, eval_set, ks) for eval_set in loaded]
    base_results = []
    if adapter is not None:  # the base model beside the adapter: the same sets, the adapter switched off
        with embedder.adapter_disabled():
            base_results = [evaluate_eval_set_retrieval(embedder, eval_set, ks) for eval_set in loaded]
    adapter_name = str(adapter) if adapter else None
    model = model or embedder.describe()["name"]  # the adapter's base model (or the default) when not given
    title = f"retrieval: model {model}" + (f", base model and adapter {adapter_name}" if adapter_name else "")
    evaluations = [{"eval_set": r.task, "metrics": r.to_dict()} for r in results]
    document = {"model": model, "adapter": adapter_name, **evaluations[0], "evaluations": evaluations}
    if base_results:
        document["zero_shot"] = [{"eval_set": r.task, "metrics": r.to_dict()} for r in base_results]
        document["base_model_results"] = base_results  # for the table; popped before writing
    return title, results, document
