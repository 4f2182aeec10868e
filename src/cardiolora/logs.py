"""How loud the libraries underneath are: the engine decides (a benchmark worker, a server), the
command line only calls it."""

from __future__ import annotations

from contextlib import contextmanager


def quiet_libraries() -> None:
    """transformers' warnings below error level and its progress bars off (they would interleave
    with cardiolora's own progress, or pollute a worker's output that a parent reads)."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@contextmanager
def library_bars_off():
    """transformers' progress bars ("Loading weights") off for the block, as they were after it: the
    Python API loads models without printing bars into the caller's output, and leaves the caller's
    own setting alone."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()
