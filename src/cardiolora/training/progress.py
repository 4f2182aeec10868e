"""Progress a person can read while a run trains: step, loss and time left.

transformers' own progress callback prints raw ``{'loss': ...}`` dicts once its bar is switched
off (cardiolora switches library bars off: they interleave with its own output), and nothing at
all that says how long is left. :class:`TrainingProgress` replaces it: on a terminal a rich bar
(step of total, loss, elapsed, time left); elsewhere (a log file, a pipe, CI) a line at every 5% of
the steps through the run's ``log``; at the end a one-line summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback


def duration(seconds: float) -> str:
    """``13 min 51 s``, ``52 s``, ``1 h 04 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class TrainingProgress(TrainerCallback):
    """Step, loss and time left (see the module docstring). ``console``: a rich console to draw a
    bar on when it is a terminal; ``log``: where the lines go otherwise, and the summary."""

    def __init__(self, log: Callable[..., Any], console=None, lines: int = 20) -> None:
        self.log = log
        self.console = console
        self.lines = lines
        self.loss: float | None = None
        self._bar = None
        self._task = None
        self._first_step = 0
        self._started = 0.0

    def _live(self) -> bool:
        return self.console is not None and self.console.is_terminal

    def on_train_begin(self, args, state, control, **kwargs):
        self._first_step = state.global_step  # past the checkpoint when resuming
        self._started = time.perf_counter()
        if self._live():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps{task.fields[loss]},"),
                TextColumn("{task.fields[elapsed]} elapsed,"),
                TimeRemainingColumn(),
                TextColumn("left"),
                console=self.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                "training", total=state.max_steps, completed=state.global_step, loss="", elapsed="0 s"
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            try:
                self.loss = float(logs["loss"])  # transformers 5 hands over formatted strings
            except (TypeError, ValueError):
                pass

    def _left(self, step: int, total: int) -> float | None:
        done = step - self._first_step
        if done <= 0:
            return None
        return (time.perf_counter() - self._started) / done * (total - step)

    def on_step_end(self, args, state, control, **kwargs):
        step, total = state.global_step, state.max_steps
        # No loss shown before the first logged one (every logging_steps steps), rather than a dash.
        loss = "" if self.loss is None else f", loss {self.loss:.3f}"
        elapsed = duration(time.perf_counter() - self._started)
        if self._bar is not None:
            self._bar.update(self._task, completed=step, loss=loss, elapsed=elapsed)
            return
        every = max(1, total // self.lines)
        if step % every == 0 or step == total:
            left = self._left(step, total)
            remaining = f", about {duration(left)} left" if left is not None and step < total else ""
            self.log(f"step {step}/{total} ({100 * step / total:.0f}%){loss}, {elapsed} elapsed{remaining}")

    def on_train_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        steps = state.global_step - self._first_step
        seconds = time.perf_counter() - self._started
        loss = "" if self.loss is None else f", last logged loss {self.loss:.3f}"
        rate = f" ({steps / seconds:.2f} steps/s)" if seconds > 0 and steps else ""
        self.log(f"trained {steps} steps in {duration(seconds)}{rate}{loss}")
