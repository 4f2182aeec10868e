"""The ``cardiolora`` command line: parses arguments, calls the Python API, prints the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cardiolora.cli.common import (
    AdapterOption,
    AdapterScaleOption,
    EngineOption,
    ModelOption,
    PrecisionOption,
    RayAddressOption,
    TrustOption,
    WorkersOption,
    app,
    console,
    eval_sets_option,
    plain,
    quiet_libraries,
    stage_progress,
    user_errors,
)
from cardiolora.errors import CardioloraError, InputError

models_app = typer.Typer(help="The offline model zoo.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(models_app, name="models")

EvalSetsOption = eval_sets_option(
    "Bundled set name or JSONL path; repeatable. Default: every bundled set, cardiology first."
)


@models_app.command("list")
@user_errors
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the zoo: family, size, pooling, LoRA targets, source and whether the weights are on this machine."""
    from cardiolora.models import MODEL_REGISTRY
    from cardiolora.training.config import PeftSettings

    default_targets = list(PeftSettings().target_modules)  # what `cardiolora train` adapts by default
    rows = []
    for spec in MODEL_REGISTRY.values():
        source = spec.available_source()
        rows.append(
            {
                "name": spec.name,
                "hub_id": spec.hub_id,
                "family": spec.family,
                "parameters": spec.parameters,
                "dimension": spec.dimension,
                "pooling": spec.pooling,
                "lora_targets": default_targets,
                "attention_targets": list(spec.lora_targets),
                "source": (source or spec.sources[0]).describe(),
                "available": source is not None,
                "study_group": spec.study_group,
            }
        )
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(
        title="cardiolora model zoo",
        caption="LoRA targets: what `cardiolora train` adapts by default; --target-module attention adapts the "
        "attention modules instead (the study's choice)",
    )
    for column in ("name", "family", "params", "dim", "pooling", "LoRA targets", "attention", "source", "available"):
        table.add_column(column, justify="right" if column in ("params", "dim") else "left")
    for row in rows:
        table.add_row(
            plain(row["name"]),
            plain(row["family"]),
            f"{row['parameters'] / 1e6:,.0f}M",
            str(row["dimension"]),
            plain(row["pooling"]),
            plain(",".join(row["lora_targets"])),
            plain(",".join(row["attention_targets"])),
            plain(row["source"]),  # may name a local path
            "[green]yes[/]" if row["available"] else "[red]no[/]",
        )
    console.print(table)


def _read_texts(path: Path, field: str) -> tuple[list[str], list[Any]]:
    """The texts of a .txt or .jsonl file, and the ``id`` of each JSONL record (``None`` where it has none)."""
    from cardiolora.io import iter_jsonl, read_text

    if not path.exists():
        raise InputError("file not found", path=path)
    texts: list[str] = []
    ids: list[Any] = []
    if path.suffix == ".jsonl":
        for line_number, record in iter_jsonl(path):
            value = record.get(field)
            if not isinstance(value, str) or not value.strip():
                raise InputError("missing, empty or not a string", path=path, line=line_number, field=field)
            texts.append(value)
            ids.append(record.get("id"))
    else:
        # read_text: a BOM is dropped, and text that is not UTF-8 fails naming its line
        texts = [line.strip() for line in read_text(path).splitlines() if line.strip()]
        ids = [None] * len(texts)
    if not texts:
        raise InputError("no texts: the file is empty", path=path)
    return texts, ids


def plural(count: int, noun: str) -> str:
    """``1 embedding``, ``2 embeddings``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


@app.command()
@user_errors
def embed(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Output file: .npy (matrix) or .jsonl (text + vector, and the input's id where it has one); "
            "- writes the JSONL to standard output. With --engine ray: a directory of Parquet vector shards.",
        ),
    ],
    texts: Annotated[list[str] | None, typer.Argument(metavar="TEXT", help="Texts to embed (or use --input).")] = None,
    model: ModelOption = None,
    input_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--input",
            "-i",
            metavar="FILE",
            help="A .txt file (one text a line) or .jsonl file. With --engine ray: repeatable, and also .parquet "
            "files, directories and quoted globs.",
        ),
    ] = None,
    field: Annotated[str, typer.Option(help="The text field of a .jsonl (or .parquet) input.")] = "text",
    role: Annotated[str, typer.Option(help="Prompt role: similarity, query, passage or none.")] = "similarity",
    adapter: AdapterOption = None,
    adapter_scale: AdapterScaleOption = 1.0,
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Texts per forward pass.")] = 32,
    trust_remote_code: TrustOption = False,
    precision: PrecisionOption = "fp32",
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    workers: WorkersOption = 2,
    cpus_per_worker: Annotated[
        float | None,
        typer.Option(
            "--cpus-per-worker",
            min=0.0,
            metavar="N",
            help="Ray: CPUs each embedder takes (default: this machine's cores shared out locally, 1 on a cluster).",
        ),
    ] = None,
    gpus_per_worker: Annotated[
        float, typer.Option("--gpus-per-worker", min=0.0, metavar="N", help="Ray: GPUs each embedder takes (0: CPU).")
    ] = 0.0,
    rows_per_shard: Annotated[
        int, typer.Option("--rows-per-shard", min=1, metavar="N", help="Ray: input lines (or rows) per shard.")
    ] = 10_000,
    id_field: Annotated[
        str, typer.Option("--id-field", metavar="NAME", help="Ray: the id field (default: FILE:LINE where absent).")
    ] = "id",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Ray: discard shards in --out made with other settings.")
    ] = False,
) -> None:
    """Embed texts into L2-normalized vectors, written as .npy or JSONL (or, with --engine ray, as
    Parquet shards of any number of texts)."""
    import numpy as np

    from cardiolora.embedding import Embedder
    from cardiolora.io import atomic_path

    if role not in ("similarity", "query", "passage", "none"):
        raise CardioloraError(f"--role must be similarity, query, passage or none, got {role!r}")
    if engine not in ("local", "ray"):
        raise CardioloraError(f"--engine must be local or ray, got {engine!r}")
    if adapter_scale != 1.0 and adapter is None:
        raise CardioloraError("--adapter-scale needs --adapter")
    if engine == "ray":
        from cardiolora.cli.shards import embed_with_ray

        if texts or not input_files:
            raise CardioloraError("--engine ray embeds --input files (repeatable), not texts given as arguments")
        if str(out) == "-" or out.suffix in (".npy", ".jsonl"):
            raise CardioloraError(f"with --engine ray, --out is a directory of Parquet shards, got {out}")
        embed_with_ray(
            input_files, out, model=model, adapter=adapter, adapter_scale=adapter_scale, precision=precision,
            role=role, batch_size=batch_size, text_field=field, id_field=id_field, rows_per_shard=rows_per_shard,
            workers=workers, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
            ray_address=ray_address, overwrite=overwrite, trust_remote_code=trust_remote_code,
        )  # fmt: skip
        return
    if ray_address is not None:
        raise CardioloraError("--ray-address needs --engine ray")
    if len(input_files or []) > 1:
        raise CardioloraError("the local engine reads one --input file; --engine ray reads many")
    input_file = input_files[0] if input_files else None
    to_stdout = str(out) == "-"
    if out.suffix not in (".npy", ".jsonl") and not to_stdout:
        raise CardioloraError(f"--out must end in .npy or .jsonl, or be - (JSONL on standard output), got {out}")
    if bool(texts) == (input_file is not None):
        raise CardioloraError("give either texts as arguments or --input FILE, not both or neither")
    if input_file is not None:
        items, ids = _read_texts(input_file, field)
    else:
        items, ids = list(texts or []), [None] * len(texts or [])
    for index, text in enumerate(items):
        if not text.strip():
            raise CardioloraError(f"text argument {index + 1} is empty")
    quiet_libraries()
    embedder = Embedder.load(
        model,
        adapter=adapter,
        trust_remote_code=trust_remote_code,
        batch_size=batch_size,
        precision=precision,
        adapter_scale=adapter_scale,
    )
    vectors = embedder.encode(items, role=None if role == "none" else role, show_progress=None)  # type: ignore[arg-type]

    def records():
        for text, identifier, vector in zip(items, ids, vectors, strict=True):
            record = {"text": text, "embedding": vector.tolist()}
            yield {"id": identifier, **record} if identifier is not None else record

    if to_stdout:  # for pipes: JSONL on stdout, nothing else there
        import sys

        for record in records():
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    with atomic_path(out) as tmp:
        if out.suffix == ".npy":
            with open(tmp, "wb") as handle:
                np.save(handle, vectors)
        else:
            with open(tmp, "w", encoding="utf-8") as handle:
                for record in records():
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    console.print(f"wrote {plural(len(items), 'embedding')} of dimension {vectors.shape[1]} to {plain(out)}")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_evaluation(result: dict[str, Any]) -> Table:
    """A rich table of a results.json dictionary: one row per evaluation set."""
    model = result["model"]
    scale = model.get("adapter_scale")
    title = f"{model['name']}" + (
        f" + adapter {model['adapter']}" + (f" (scale {scale})" if scale not in (None, 1.0) else "")
        if model.get("adapter")
        else " (zero-shot)"
    )
    if model.get("truncate_dim"):
        title += f", first {model['truncate_dim']} dimensions"
    table = Table(title=plain(title))  # model and set names may be paths: printed literally
    for column in (
        "eval set",
        "pairs",
        "similar",
        "different",
        "separation [95% CI]",
        "tier",
        "ROC-AUC",
        "negation gap",
        "negation acc.",
    ):
        table.add_column(column, justify="left" if column == "eval set" else "right")
    for evaluation in result["evaluations"]:
        categories = evaluation["categories"]

        def mean_sd(name: str, categories: dict[str, Any] = categories) -> str:
            stats = categories.get(name)
            if stats is None:
                return "n/a"
            # One pair has no spread to report: its SD would print as a measured 0.000.
            return f"{stats['mean']:.3f} ± " + (f"{stats['sd']:.3f}" if stats.get("n", 2) > 1 else "n/a")

        low, high = evaluation["separation_ci"]
        table.add_row(
            plain(evaluation["eval_set"]["name"]),
            str(evaluation["eval_set"]["n_pairs"]),
            mean_sd("similar"),
            mean_sd("different"),
            f"{_fmt(evaluation['separation'])} [{_fmt(low)}, {_fmt(high)}]",
            evaluation["tier"],
            _fmt(evaluation["auc"]),
            _fmt(evaluation["negation_gap"]),
            _fmt(evaluation["negation_accuracy"])
            + (f" (n={evaluation['n_negation_tests']})" if evaluation["n_negation_tests"] else ""),
        )
    return table


def render_forms(result: dict[str, Any]) -> Table | None:
    """Per set and form: ROC-AUC (zero-shot beside it when the result has it) and what the surface
    of the texts alone scores (word-count closeness, word overlap, BM25: 0.5 means no help)."""
    zero_shot = {e["eval_set"]["name"]: e for e in result.get("zero_shot") or []}
    rows = []
    for evaluation in result["evaluations"]:
        name = evaluation["eval_set"]["name"]
        before = zero_shot.get(name, {})
        parts = [("all", evaluation, before)] + [
            (form, values, (before.get("forms") or {}).get(form, {}))
            for form, values in (evaluation.get("forms") or {}).items()
        ]
        for form, values, base in parts:
            surface = values.get("surface") if form != "all" else evaluation.get("surface")
            rows.append((name, form, values, base, surface or {}))
    if not any(form != "all" for _, form, *_ in rows):
        return None
    table = Table(title="per form: ROC-AUC, and what word count, word overlap and BM25 alone score (0.5 = nothing)")
    columns = ["eval set", "form", "pairs"] + (["ROC-AUC zero-shot", "adapted"] if zero_shot else ["ROC-AUC"])
    for column in (*columns, "word count", "overlap", "BM25"):
        table.add_column(column, justify="left" if column in ("eval set", "form") else "right")
    for name, form, values, base, surface in rows:
        pairs = values.get("n_similar", 0) + values.get("n_different", 0) if form != "all" else None
        cells = [plain(name), form, str(pairs) if pairs is not None else str(values["eval_set"]["n_pairs"])]
        cells += [_fmt(base.get("auc")), _fmt(values.get("auc"))] if zero_shot else [_fmt(values.get("auc"))]
        cells += [_fmt(surface.get(k)) for k in ("word_count", "word_overlap", "bm25")]
        table.add_row(*cells)
    return table


def render_target(report) -> Table | None:
    """The target set, base model against adapter, with the paired 95% CI of each change: the gain
    the adapter was trained for, shown before what it cost elsewhere."""
    from cardiolora.evaluation.paired import paired_changes

    if not report.zero_shot or not report.target:
        return None
    after = next((e for e in report.evaluations if e["eval_set"]["name"] == report.target), None)
    before = next((e for e in report.zero_shot if e["eval_set"]["name"] == report.target), None)
    if after is None or before is None:
        return None
    changes = paired_changes(after["pair_categories"], before["pair_cosines"], after["pair_cosines"])
    scale = report.model.get("adapter_scale", 1.0)
    title = f"target {report.target}: base model -> adapter" + (f" (scale {scale})" if scale != 1.0 else "")
    table = Table(title=plain(title))
    for column in ("metric", "zero-shot", "adapted", "change [95% CI]"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, label in (("separation", "separation"), ("auc", "ROC-AUC")):
        change = changes.get(key)
        ci = f" [{change.low:+.3f}, {change.high:+.3f}]" if change else ""
        delta = None if before[key] is None or after[key] is None else after[key] - before[key]
        table.add_row(label, _fmt(before[key]), _fmt(after[key]), ("n/a" if delta is None else f"{delta:+.3f}") + ci)
    for form, values in (after.get("forms") or {}).items():
        base = (before.get("forms") or {}).get(form, {})
        delta = None if base.get("auc") is None or values.get("auc") is None else values["auc"] - base["auc"]
        table.add_row(f"ROC-AUC, {form}", _fmt(base.get("auc")), _fmt(values.get("auc")),
                      "n/a" if delta is None else f"{delta:+.3f}")  # fmt: skip
    if after.get("n_negation_tests"):
        table.add_row("negation accuracy", _fmt(before["negation_accuracy"]), _fmt(after["negation_accuracy"]), "")
    return table


def render_retention(rows) -> Table:
    """The retention table: each non-target set zero-shot against adapted, each change with its
    paired 95% CI, harm flagged."""
    table = Table(title="retention: the other evaluation sets, base model -> adapter")
    for column in ("eval set", "separation zero-shot", "adapted", "change [95% CI]", "ROC-AUC zero-shot", "adapted ",
                   "change [95% CI] "):  # fmt: skip
        table.add_column(column, justify="left" if column == "eval set" else "right")
    for row in rows:
        fell = row.fell()

        def change(value: float | None, ci, harmed: bool) -> str:
            if value is None:
                return "n/a"
            text = f"{value:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
            return f"[bold red]{text}[/]" if harmed else text

        table.add_row(
            plain(row.eval_set) + (" [bold red](harmed)[/]" if row.harmed else ""),
            _fmt(row.separation_zero_shot),
            _fmt(row.separation_adapted),
            change(row.separation_change, row.separation_change_ci, fell["separation"]),
            _fmt(row.auc_zero_shot),
            _fmt(row.auc_adapted),
            change(row.auc_change, row.auc_change_ci, fell["ROC-AUC"]),
        )
    return table


def print_retention(rows) -> None:
    from cardiolora.evaluation import retention_warnings

    if not rows:
        return
    console.print(render_retention(rows))
    warnings = retention_warnings(rows)
    for warning in warnings:
        console.print(f"[bold red]warning[/]: {escape(warning)}")
    if not warnings:
        console.print(
            f"no set harmed: none fell by more than {rows[0].tolerance} in separation or ROC-AUC with its paired "
            "95% CI below zero"
        )


@app.command()
@user_errors
def evaluate(
    model: ModelOption = None,
    eval_sets: EvalSetsOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write results JSON here.")] = None,
    adapter: AdapterOption = None,
    adapter_scale: AdapterScaleOption = 1.0,
    target: Annotated[
        str,
        typer.Option(
            metavar="NAME", help="The set the adapter is for; with --adapter every other set gets a retention row."
        ),
    ] = "cardiology",
    zero_shot: Annotated[
        bool,
        typer.Option(
            "--zero-shot/--no-zero-shot", help="With --adapter, also evaluate the base model (retention table)."
        ),
    ] = True,
    normalisation: Annotated[
        list[str] | None,
        typer.Option(
            "--normalisation",
            metavar="NAME|FILE",
            help="Concept-normalisation set(s) to rank too (see evaluate-normalisation); repeatable. Default: "
            "the bundled one named like --target, if any; 'none' for none.",
        ),
    ] = None,
    dims: Annotated[
        int | None,
        typer.Option(
            "--dims",
            min=1,
            metavar="N",
            help="Keep the first N dimensions of every vector, renormalized (Matryoshka-style truncation, as "
            "the server's `dimensions`): how much a smaller index costs.",
        ),
    ] = None,
    n_resamples: Annotated[int, typer.Option(min=100, metavar="N", help="Bootstrap resamples for the CI.")] = 5000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Texts per forward pass.")] = 32,
    trust_remote_code: TrustOption = False,
    precision: PrecisionOption = "fp32",
) -> None:
    """Separation, its bootstrap CI, ROC-AUC (overall and per form, beside what word count, overlap and
    BM25 alone score), negation sensitivity and concept normalisation of a model on evaluation sets."""
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import default_eval_sets, evaluate_embedder, load_eval_set
    from cardiolora.evaluation.normalisation import bundled_normalisation_sets, load_normalisation_set

    # Validate every input before loading the model: bad input fails fast and writes nothing.
    sets = [load_eval_set(name) for name in (eval_sets or default_eval_sets(target))]
    if normalisation is None:
        normalisation = [target] if target in bundled_normalisation_sets() else []
    norm_sets = [load_normalisation_set(name) for name in normalisation if name.lower() != "none"]
    if out is not None and out.exists() and out.is_dir():
        raise CardioloraError(f"--out {out} is a directory")
    if adapter_scale != 1.0 and adapter is None:
        raise CardioloraError("--adapter-scale needs --adapter")
    quiet_libraries()
    embedder = Embedder.load(
        model,
        adapter=adapter,
        trust_remote_code=trust_remote_code,
        batch_size=batch_size,
        precision=precision,
        adapter_scale=adapter_scale,
    )
    if dims is not None:
        if dims > embedder.full_dimension:
            raise CardioloraError(f"--dims {dims} is more than the model's {embedder.full_dimension} dimensions")
        embedder.truncate_dim = dims
    with stage_progress("evaluating") as progress:
        report = evaluate_embedder(
            embedder,
            sets,
            n_resamples=n_resamples,
            seed=seed,
            zero_shot=zero_shot,
            target=target,
            normalisation_sets=norm_sets,
            progress=progress,
        )
    result = report.to_dict()
    target_table = render_target(report)
    if target_table is not None:
        console.print(target_table)
    console.print(render_evaluation(result))
    forms_table = render_forms(result)
    if forms_table is not None:
        console.print(forms_table)
    if report.normalisation:
        console.print(render_normalisation({"model": result["model"], "results": report.normalisation}))
    print_retention(report.retention())
    if out is not None:
        report.save(out)
        console.print(f"results written to {plain(out)}")
        if adapter is not None:
            from cardiolora.evaluation.embedding_map import embedding_map
            from cardiolora.study.report_figures import plot_embedding_map, pyplot, save_figure

            figure = out.with_name(f"{out.stem}.embedding_map.png")
            plt = pyplot()
            save_figure(plot_embedding_map(embedder.spec.name, embedding_map(embedder, sets[0]), plt), figure)
            console.print(f"embedding map of {plain(sets[0].name)}: {plain(figure)}")


@app.command("evaluate-normalisation")
@user_errors
def evaluate_normalisation_command(
    model: ModelOption = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="NAME|FILE",
            help="Bundled normalisation set (cardiology, cardiology-dev) or a JSONL file of "
            '{"description", "diagnosis"} and {"term"} rows; repeatable. Default: cardiology.',
        ),
    ] = None,
    adapter: AdapterOption = None,
    adapter_scale: AdapterScaleOption = 1.0,
    zero_shot: Annotated[
        bool, typer.Option("--zero-shot/--no-zero-shot", help="With --adapter, also rank with the base model.")
    ] = True,
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write results JSON here.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Texts per forward pass.")] = 32,
    trust_remote_code: TrustOption = False,
    precision: PrecisionOption = "fp32",
) -> None:
    """Concept normalisation: each description's diagnosis among the set's vocabulary (top-1, top-5, MRR),
    beside what BM25 and word overlap alone reach; with --adapter, the base model beside it."""
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation.normalisation import evaluate_normalisation, load_normalisation_set
    from cardiolora.io import write_json_atomic

    norm_sets = [load_normalisation_set(name) for name in (sets or ["cardiology"])]
    if adapter_scale != 1.0 and adapter is None:
        raise CardioloraError("--adapter-scale needs --adapter")
    quiet_libraries()
    embedder = Embedder.load(
        model,
        adapter=adapter,
        trust_remote_code=trust_remote_code,
        batch_size=batch_size,
        precision=precision,
        adapter_scale=adapter_scale,
    )
    document = evaluate_normalisation(embedder, norm_sets, zero_shot=zero_shot)
    console.print(render_normalisation(document))
    if out is not None:
        write_json_atomic(out, document)
        console.print(f"results written to {plain(out)}")


def render_normalisation(document: dict[str, Any]) -> Table:
    model = document["model"]
    scale = model.get("adapter_scale")
    title = (
        "concept normalisation: "
        + model["name"]
        + (
            f" + adapter {model['adapter']}" + (f" (scale {scale})" if scale not in (None, 1.0) else "")
            if model.get("adapter")
            else " (zero-shot)"
        )
    )
    has_base = any("zero_shot" in r for r in document["results"])
    table = Table(title=plain(title))
    columns = ["set", "descriptions", "terms"]
    columns += ["top-1 zero-shot", "adapted", "change [95% CI]", "top-5 zero-shot", "adapted ", "MRR zero-shot",
                "adapted  "] if has_base else ["top-1", "top-5", "MRR"]  # fmt: skip
    for column in (*columns, "BM25 top-1", "overlap top-1"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for result in document["results"]:
        info = result["normalisation_set"]
        cells = [plain(info["name"]), str(info["n_queries"]), str(info["n_terms"])]
        if has_base:
            base, change = result.get("zero_shot", {}), result.get("change", {})
            low, high = change.get("top1_change_ci_low"), change.get("top1_change_ci_high")
            ci = f"{change['top1_change']:+.3f} [{low:+.3f}, {high:+.3f}]" if change else "n/a"
            cells += [_fmt(base.get("top1")), _fmt(result["top1"]), ci, _fmt(base.get("top5")), _fmt(result["top5"]),
                      _fmt(base.get("mrr")), _fmt(result["mrr"])]  # fmt: skip
        else:
            cells += [_fmt(result["top1"]), _fmt(result["top5"]), _fmt(result["mrr"])]
        cells += [_fmt(result["surface"]["bm25_top1"]), _fmt(result["surface"]["overlap_top1"])]
        table.add_row(*cells)
    return table
