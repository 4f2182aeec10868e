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
    quiet_libraries,
    user_errors,
)
from cardiolora.errors import CardioloraError


def parse_adapters(items: list[str] | None) -> dict[str, Path]:
    adapters: dict[str, Path] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise CardioloraError(f"--adapter takes NAME=DIR, got {item!r}")
        if name in adapters:
            raise CardioloraError(f"--adapter name {name!r} is given twice")
        adapters[name] = Path(path)
    return adapters


@app.command()
@user_errors
def serve(
    model: ModelOption,
    adapters: Annotated[list[str] | None, typer.Option("--adapter", help="NAME=DIR; repeatable.")] = None,
    adapter_scale: AdapterScaleOption = 1.0,
    adapter_dir: Annotated[
        Path | None, typer.Option("--adapter-dir", help="Run-time loads (admin API) only from inside this directory.")
    ] = None,
    host: Annotated[str, typer.Option(help="Bind address; loopback unless you mean otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    backend: Annotated[str, typer.Option(help="torch, onnx or onnx-int8.")] = "torch",
    max_inputs: Annotated[int, typer.Option(help="Texts per request at most.")] = 256,
    overlong: Annotated[str, typer.Option(help="Inputs beyond the model's max length: truncate or reject.")] = "truncate",
    batch_window_ms: Annotated[float, typer.Option(help="Micro-batching window.")] = 5.0,
    max_batch: Annotated[int, typer.Option(help="Texts per micro-batch at most.")] = 64,
    trust_remote_code: TrustOption = False,
) -> None:
    """Serve embeddings with OpenAI's API (POST /v1/embeddings, GET /v1/models), /health and
    Prometheus /metrics. The admin API (POST/DELETE /admin/adapters) needs the bearer token in
    $CARDIOLORA_ADMIN_TOKEN and --adapter-dir."""
    import uvicorn

    from cardiolora.serve import ServeSettings, create_app

    if overlong not in ("truncate", "reject"):
        raise CardioloraError(f"--overlong must be truncate or reject, got {overlong!r}")
    if max_inputs < 1 or max_batch < 1 or batch_window_ms < 0:
        raise CardioloraError("--max-inputs and --max-batch must be >= 1 and --batch-window-ms >= 0")
    if adapter_dir is not None and not adapter_dir.is_dir():
        raise CardioloraError(f"--adapter-dir {adapter_dir} is not a directory")
    named = parse_adapters(adapters)
    quiet_libraries()
    if backend == "torch":
        from cardiolora.serve import AdapterPool

        pool = AdapterPool.load(
            model, named, adapter_root=adapter_dir, trust_remote_code=trust_remote_code, adapter_scale=adapter_scale
        )
    elif backend in ("onnx", "onnx-int8"):
        from cardiolora.serve.onnx import OnnxPool

        with console.status(f"exporting {model} and {len(named)} adapter(s) to ONNX"):
            pool = OnnxPool.load(
                model, named, quantize=backend == "onnx-int8", trust_remote_code=trust_remote_code,
                adapter_scale=adapter_scale,
            )  # fmt: skip
    else:
        raise CardioloraError(f"--backend must be torch, onnx or onnx-int8, got {backend!r}")
    token = os.environ.get("CARDIOLORA_ADMIN_TOKEN") or None
    settings = ServeSettings(max_inputs=max_inputs, overlong=overlong, window_ms=batch_window_ms, max_batch=max_batch, admin_token=token)  # fmt: skip
    console.print(f"serving {', '.join(pool.names())} on http://{host}:{port}/v1 ({backend}); admin API "
                  f"{'on' if token else 'off (set CARDIOLORA_ADMIN_TOKEN)'}")  # fmt: skip
    uvicorn.run(create_app(pool, settings), host=host, port=port, log_level="warning", timeout_graceful_shutdown=30)
