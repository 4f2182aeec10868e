"""How loud the libraries underneath are: the engine decides (a benchmark worker, a server), the
command line only calls it."""

from __future__ import annotations


def quiet_libraries() -> None:
    """transformers' warnings below error level and its progress bars off (they would interleave
    with cardiolora's own progress, or pollute a worker's output that a parent reads)."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
