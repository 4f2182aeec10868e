"""``cardiolora embed --engine ray``: the job of :mod:`cardiolora.distributed` with its progress shown.

Progress is cardiolora's own rich bar on the driver (rows done of the rows left, rows/s and the time
left), fed by one report per written shard; Ray Data's own bars are off (they count blocks of each
operator, not texts). Without a terminal a line is printed every 5% or 30 s instead.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from cardiolora.cli.common import console, plain


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


@contextlib.contextmanager
def shard_progress():
    """``(on_plan, on_shard)`` callbacks for :func:`~cardiolora.distributed.embed_to_shards`."""
    state = {"total": 0, "done": 0, "started": 0.0, "last_line": 0.0, "last_percent": -5}
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task) -> Text:
                return Text(f"{task.speed:,.0f} rows/s" if task.speed else "- rows/s")

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=console, transient=True, speed_estimate_period=120) as bar:
            task = bar.add_task("embedding", total=None)

            def on_plan(shards: int, pending: int, rows: int) -> None:
                _print_plan(shards, pending, rows)
                bar.update(task, total=rows)
                bar.start_task(task)

            def on_shard(done) -> None:
                bar.advance(task, done.span)

            yield on_plan, on_shard
        return

    def on_plan(shards: int, pending: int, rows: int) -> None:
        _print_plan(shards, pending, rows)
        state.update(total=rows, started=time.monotonic(), last_line=time.monotonic())

    def on_shard(done) -> None:
        state["done"] += done.span
        now = time.monotonic()
        if "first_time" not in state:  # the rate is measured from the first shard: workers start slowly
            state.update(first_time=now, first_done=state["done"])
        percent = 100 * state["done"] // max(1, state["total"])
        if percent < state["last_percent"] + 5 and now - state["last_line"] < 30 and state["done"] < state["total"]:
            return
        state.update(last_line=now, last_percent=percent)
        elapsed = now - state["first_time"]
        rate = (state["done"] - state["first_done"]) / elapsed if elapsed > 0 else 0.0
        left = (state["total"] - state["done"]) / rate if rate else None
        speed = f"{rate:,.0f} rows/s, about {_duration(left)} left" if left is not None else "measuring speed"
        console.print(f"embedded {state['done']:,} of {state['total']:,} rows ({percent}%), {speed}", highlight=False)

    yield on_plan, on_shard


def _print_plan(shards: int, pending: int, rows: int) -> None:
    if pending == shards:
        console.print(f"{shards:,} shards, {rows:,} rows to embed", highlight=False)
    elif pending:
        console.print(f"resuming: {shards - pending:,} of {shards:,} shards already written, {rows:,} rows left",
                      highlight=False)  # fmt: skip
    else:
        console.print(f"all {shards:,} shards already written", highlight=False)


def embed_with_ray(inputs: list[Path], out: Path, **options) -> None:
    """Run the job and print what it wrote (the CLI's ray branch of ``embed``)."""
    from cardiolora.distributed import embed_to_shards

    with shard_progress() as (on_plan, on_shard):
        result = embed_to_shards(inputs, out, on_plan=on_plan, on_shard=on_shard, **options)
    rate = f" at {result.rows_per_second:,.0f} rows/s" if result.rows_embedded else ""
    console.print(
        f"wrote {result.shards_written:,} of {result.shards:,} shards ({result.rows:,} rows in all, dimension "
        f"{result.dimension}){rate} to {plain(out)}",
        highlight=False,
    )
