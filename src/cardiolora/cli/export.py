"""``cardiolora export``: a standalone model with the adapter merged in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cardiolora.cli.common import AdapterScaleOption, TrustOption, app, console, plain, quiet_libraries, user_errors


@app.command()
@user_errors
def export(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR|ADAPTER_DIR",
            help="A run directory from `cardiolora train`, its adapter/ directory, or an adapter on its own.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Directory for the merged model.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME|DIR",
            help="The base model, for an adapter that does not record it (default: the one it was trained on).",
        ),
    ] = None,
    merge: Annotated[
        bool, typer.Option("--merge", help="Accepted for compatibility and ignored: an export is always merged.")
    ] = False,
    adapter_scale: AdapterScaleOption = 1.0,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an earlier export (only a cardiolora export; the old one stays until the new one is "
            "complete).",
        ),
    ] = False,
    trust_remote_code: TrustOption = False,
) -> None:
    """Write a standalone sentence-transformers model: the base with the adapter merged in.

    The adapter alone is RUN_DIR/adapter already; --merge is accepted and changes nothing."""
    from cardiolora.io import read_json_object
    from cardiolora.training.export import EXPORT_MARKER, export_merged

    del merge  # the flag from when it was required; merging is what export does
    quiet_libraries()
    export_merged(
        run_dir, out, adapter_scale=adapter_scale, overwrite=overwrite, trust_remote_code=trust_remote_code, model=model
    )
    max_seq_length = read_json_object(out / EXPORT_MARKER).get("max_seq_length")
    console.print(
        f"merged model written to {plain(out)} (texts read up to {max_seq_length} tokens, as `cardiolora embed` "
        "reads them); load it with "
        f"sentence_transformers.SentenceTransformer({plain(repr(str(out)))})"
    )
