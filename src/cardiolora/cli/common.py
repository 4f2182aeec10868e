"""What every command shares: the app, consoles, option types and the user-error wrapper."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cardiolora.errors import CardioloraError
from cardiolora.logs import quiet_libraries  # noqa: F401 (the commands import it from here)

# Offline by design: nothing in cardiolora may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(
    name="cardiolora",
    help="Adapt transformer models to clinical cardiology with LoRA, evaluate them honestly, serve them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
    # Click's plain help: Rich's option table cut long option names at 80 columns ("--gradient-accum…")
    # and showed "<bool>" beside every flag.
    rich_markup_mode=None,
)

# Piped output (CI logs, files) gets a wide fixed width instead of rich's 80-column fallback.
# No emoji codes: a file or text holding ":warning:" must print as written (no command uses them).
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH, emoji=False)
err_console = Console(stderr=True, width=_WIDTH, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])


def _arguments_show_their_metavar() -> None:
    """typer labels a positional argument by its Python annotation (``TEXT <list[str]>``) even when it
    has a metavar; an argument with a metavar shows the metavar alone, as an option does."""
    argument = getattr(typer.core, "TyperArgument", None)
    inherited = getattr(argument, "display_type_rich", None)
    if argument is None or inherited is None:  # another typer: its own labels stand
        return

    def display_type_rich(self, ctx):
        return None if self.metavar is not None else inherited(self, ctx)

    argument.display_type_rich = display_type_rich


_arguments_show_their_metavar()


def _print_version(value: bool) -> None:
    if value:
        from cardiolora import __version__

        console.print(f"cardiolora {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, metavar="", help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Adapt transformer models to clinical cardiology with LoRA, evaluate them honestly, serve them."""


def plain(value: Any) -> str:
    """``value`` as text that rich prints as it is: file names, user texts and messages that quote
    them may hold ``[...]``, which rich would otherwise read as markup (``[/]`` even crashes it)."""
    return escape(str(value))


def one_line(message: str) -> str:
    """A message on one line: a name or text it quotes may hold line breaks."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def user_errors(func: F) -> F:
    """Report a :class:`CardioloraError` as one line on stderr and exit with its code (2)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CardioloraError as exc:
            # The message quotes what the user typed or passed: print it literally, never as markup.
            message = plain(one_line(str(exc)))
            err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


MODEL_HELP = (
    "Zoo name (see `cardiolora models list`), model directory or cached hub id. Default: the adapter's base "
    "model (recorded when it was trained), else minilm."
)
ModelOption = Annotated[str | None, typer.Option("--model", "-m", metavar="MODEL", help=MODEL_HELP)]
AdapterOption = Annotated[
    Path | None,
    typer.Option(
        "--adapter",
        "-a",
        metavar="DIR",
        help="A PEFT adapter directory (safetensors weights) or a training run directory.",
    ),
]


def eval_sets_option(help: str):
    """The repeatable ``--eval-set``/``-e`` option of the commands that evaluate, with their own help."""
    return Annotated[list[str] | None, typer.Option("--eval-set", "-e", metavar="NAME|FILE", help=help)]


AdapterScaleOption = Annotated[
    float,
    typer.Option(
        "--adapter-scale",
        min=0.0,
        metavar="SCALE",
        help="Multiply the adapter's LoRA update: 0 is the base model, 1 the adapter as trained; between, "
        "the weights interpolate.",
    ),
]
TrustOption = Annotated[
    bool, typer.Option("--trust-remote-code", help="Allow Python code shipped with the model to run.")
]
PrecisionOption = Annotated[
    str, typer.Option("--precision", help="fp32, or bf16 autocast where the CPU/GPU runs it natively.")
]
# The Ray engine's options, shared by `embed` and `index build` (docs/scale.md).
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        metavar="local|ray",
        help="local: this process, every vector in memory (the default). ray: Ray Data, an actor pool of "
        "embedders writing Parquet vector shards, resumable (docs/scale.md).",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        help="Ray: the cluster to run on (auto, HOST:6379, ray://HOST:10001). Default: a local Ray started here.",
    ),
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, metavar="N", help="Ray: embedders in the pool.")]


@contextlib.contextmanager
def stage_progress(title: str):
    """A ``progress(what, done, total)`` callback for work in a few named stages: a rich bar on a
    terminal, else one line per stage (so a log file shows where the time went too)."""
    if not console.is_terminal:
        yield lambda what, done, total: console.print(plain(f"{title}: {what} ({done + 1}/{total})"))
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(title, total=None)

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, description=plain(f"{title}: {what}"), completed=done, total=total)

        yield update
