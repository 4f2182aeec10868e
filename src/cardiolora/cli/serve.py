"""``cardiolora serve``: the embedding API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cardiolora.cli.common import (
    AdapterScaleOption,
    ModelOption,
    TrustOption,
    app,
    console,
    plain,
    quiet_libraries,
    user_errors,
)
from cardiolora.errors import CardioloraError


def parse_adapters(items: list[str] | None) -> dict[str, Path]:
    from cardiolora.serve.pool import check_adapter_name

    adapters: dict[str, Path] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise CardioloraError(f"--adapter takes NAME=DIR, got {item!r}")
        check_adapter_name(name)  # here for every backend, not only the torch pool's run-time loads
        if name in adapters:
            raise CardioloraError(f"--adapter name {name!r} is given twice")
        adapters[name] = Path(path)
    return adapters


def serve_model(model: str | None, adapters: dict[str, Path]) -> str:
    """The one base model every adapter is served on: ``model``, else the adapters' common base
    model, else minilm; an adapter trained on another zoo model is refused before anything loads."""
    from cardiolora.embedding import check_adapter_dir
    from cardiolora.models.adapters import DEFAULT_MODEL, adapter_base_model, check_base_model

    bases = {name: adapter_base_model(check_adapter_dir(path)) for name, path in adapters.items()}
    if model is None:
        known = sorted({base for base in bases.values() if base is not None})
        if len(known) > 1:
            listed = ", ".join(f"{name} on {base!r}" for name, base in bases.items() if base is not None)
            raise CardioloraError(
                f"the adapters were trained on different models ({listed}); one server serves "
                "one base model: pass --model, and only adapters trained on it"
            )
        model = known[0] if known else DEFAULT_MODEL
    for name, path in adapters.items():
        check_base_model(model, check_adapter_dir(path), bases[name])
    return model


def embed_corpus(corpus, pool) -> None:
    """Every served model's vectors of the index's rows, with a progress bar (a line off a terminal)."""
    from rich.progress import Progress

    names = pool.names()
    total = len(corpus.rows) * len(names)
    if not console.is_terminal:
        console.print(plain(f"embedding the index {corpus.path} ({len(corpus.rows)} rows) for {', '.join(names)}"))
        corpus.embed_all(pool.encode, names)
        return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(plain(f"embedding {corpus.path.name} for {len(names)} model(s)"), total=total)
        corpus.embed_all(pool.encode, names, lambda rows: bar.advance(task, rows))


@app.command()
@user_errors
def serve(
    model: ModelOption = None,
    adapters: Annotated[
        list[str] | None,
        typer.Option(
            "--adapter",
            "-a",
            metavar="NAME=DIR",
            help="An adapter served as model NAME (DIR: its directory or training run directory); repeatable.",
        ),
    ] = None,
    adapter_scale: AdapterScaleOption = 1.0,
    adapter_dir: Annotated[
        Path | None,
        typer.Option(
            "--adapter-dir", metavar="DIR", help="Run-time loads (admin API) only from inside this directory."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Bind address; loopback unless you mean otherwise.")] = "127.0.0.1",
    allowed_hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help="A Host header name the server answers (others: 400); repeatable. Default: on a loopback "
            "address, the loopback names only (no DNS rebinding from a web page); elsewhere, any.",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    backend: Annotated[
        str,
        typer.Option(
            help="torch, onnx or onnx-int8 (faster; its vectors depend slightly on their batch-mates: README)."
        ),
    ] = "torch",
    max_inputs: Annotated[int, typer.Option(help="Texts per request at most.")] = 256,
    overlong: Annotated[
        str, typer.Option(help="Inputs beyond the model's max length: truncate or reject.")
    ] = "truncate",
    batch_window_ms: Annotated[float, typer.Option(help="Micro-batching window.")] = 5.0,
    max_batch: Annotated[int, typer.Option(help="Texts per micro-batch at most.")] = 64,
    max_body_bytes: Annotated[int, typer.Option(help="Request body size at most (larger: 413).")] = 2_097_152,
    max_input_chars: Annotated[
        int, typer.Option(help="Characters per input text at most, checked before tokenization (longer: 400).")
    ] = 32_768,
    max_queue: Annotated[
        int, typer.Option(help="Requests waiting for the encoder at most (beyond: 503 with Retry-After).")
    ] = 256,
    request_timeout_s: Annotated[
        float,
        typer.Option(help="Seconds per request: a body not received by then is a 408, a request not served a 503."),
    ] = 60.0,
    max_in_flight: Annotated[
        int,
        typer.Option(
            help="Requests handled at once, from the first byte of their body on (beyond: 503 + Retry-After)."
        ),
    ] = 512,
    header_timeout_s: Annotated[
        float, typer.Option(help="Seconds a connection has to send a request's headers (beyond: 408, closed).")
    ] = 10.0,
    max_connections: Annotated[int, typer.Option(help="Open connections at once (beyond: 503).")] = 1024,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            metavar="NAME",
            help="torch backend: auto (bf16 autocast where the hardware runs bf16 natively, else fp32), fp32 or bf16.",
        ),
    ] = "auto",
    merged_cache_mb: Annotated[
        float,
        typer.Option(
            "--merged-cache-mb",
            metavar="MB",
            help="torch backend: weights of adapter-merged model copies kept for single-adapter batches, at most "
            "(most recently used adapters; 0: never merge).",
        ),
    ] = 2048,
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            metavar="DIR",
            help="An index directory (cardiolora index build) whose corpus every served model can search "
            "(POST /v1/search, the playground's search box); each model embeds it at startup.",
        ),
    ] = None,
    show_sources: Annotated[
        bool,
        typer.Option(
            "--show-sources",
            help="Give search clients each corpus row's source (the file path of rows read from documents); "
            "off by default: search needs no login.",
        ),
    ] = False,
    nprobe: Annotated[
        int | None,
        typer.Option(
            "--nprobe",
            metavar="N",
            help="With an IVF --index: cells a search probes unless the request gives nprobe (default: the index's).",
        ),
    ] = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Serve embeddings with OpenAI's API (POST /v1/embeddings, GET /v1/models), /health and
    Prometheus /metrics. The admin API (POST/DELETE /admin/adapters) needs the bearer token in
    $CARDIOLORA_ADMIN_TOKEN and --adapter-dir."""
    from cardiolora.serve import ServeSettings, create_app

    token = os.environ.get("CARDIOLORA_ADMIN_TOKEN") or None
    # Built first: it checks every limit before a model loads.
    settings = ServeSettings(
        max_inputs=max_inputs,
        overlong=overlong,
        window_ms=batch_window_ms,
        max_batch=max_batch,
        admin_token=token,
        max_body_bytes=max_body_bytes,
        max_input_chars=max_input_chars,
        max_queue=max_queue,
        request_timeout_s=request_timeout_s,
        allowed_hosts=_allowed_hosts(host, allowed_hosts),
        max_in_flight=max_in_flight,
        header_timeout_s=header_timeout_s,
        max_connections=max_connections,
    )
    if adapter_dir is not None and not adapter_dir.is_dir():
        raise CardioloraError(f"--adapter-dir {adapter_dir} is not a directory")
    named = parse_adapters(adapters)
    model = serve_model(model, named)
    corpus = None
    if index is not None:
        from cardiolora.serve.corpus import ServedCorpus

        corpus = ServedCorpus.open(index, show_sources=show_sources, nprobe=nprobe)  # before a model loads
    elif nprobe is not None:
        raise CardioloraError("--nprobe needs --index (an ivf-flat or ivf-pq index)")
    quiet_libraries()
    if backend == "torch":
        from cardiolora.serve import AdapterPool

        if precision not in ("auto", "fp32", "bf16"):
            raise CardioloraError(f"--precision must be auto, fp32 or bf16, got {precision!r}")
        if merged_cache_mb < 0:
            raise CardioloraError(f"--merged-cache-mb must be >= 0, got {merged_cache_mb}")
        pool = AdapterPool.load(
            model,
            named,
            adapter_root=adapter_dir,
            trust_remote_code=trust_remote_code,
            adapter_scale=adapter_scale,
            precision=precision,
            merged_cache_mb=merged_cache_mb,
        )
    elif backend in ("onnx", "onnx-int8"):
        from cardiolora.serve.onnx import OnnxPool

        with console.status(f"exporting {plain(model)} and {len(named)} adapter(s) to ONNX"):
            pool = OnnxPool.load(
                model,
                named,
                quantize=backend == "onnx-int8",
                trust_remote_code=trust_remote_code,
                adapter_scale=adapter_scale,
            )
    else:
        raise CardioloraError(f"--backend must be torch, onnx or onnx-int8, got {backend!r}")
    if corpus is not None:
        corpus.bind(pool)  # an IVF index: the served model that made its vectors, or a refusal
        if corpus.index is None:  # an IVF index is searched through its stored vectors, not embedded again
            embed_corpus(corpus, pool)
    # Model and adapter names (paths among them) and the host are printed literally, not as markup.
    console.print(
        plain(
            f"serving {', '.join(pool.names())} on http://{host}:{port}/v1 ({backend}"
            + (f", {pool.embedder.precision}" if backend == "torch" else "")
            + "); admin API "
            f"{'on' if token else 'off (set CARDIOLORA_ADMIN_TOKEN)'}"
        )
    )
    from cardiolora.serve import connections

    connections.run_server(create_app(pool, settings, corpus), host, port, settings)


def _allowed_hosts(host: str, given: list[str] | None) -> tuple[str, ...] | None:
    """The Host names to answer: the given ones; on a loopback bind, the loopback names; else any."""
    import ipaddress

    from cardiolora.serve.http import LOOPBACK_HOSTS, host_name

    if given:
        return tuple(dict.fromkeys(host_name(name) for name in given))
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return LOOPBACK_HOSTS if loopback else None
