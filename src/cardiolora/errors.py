"""User-facing errors.

Every error a user can cause by what they type or the files they pass is a :class:`CardioloraError`.
The CLI prints it as one line and exits with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class CardioloraError(Exception):
    """An error caused by the user's input, reported without a traceback (exit code 2)."""

    exit_code = 2


class InputError(CardioloraError):
    """Bad content in an input file, located by file, line and field.

    >>> str(InputError("must be a non-empty string", path="pairs.jsonl", line=3, field="sentence1"))
    "pairs.jsonl:3: field 'sentence1': must be a non-empty string"
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        location = ""
        if self.path is not None:
            location = self.path if line is None else f"{self.path}:{line}"
            location += ": "
        where_field = f"field '{field}': " if field else ""
        super().__init__(f"{location}{where_field}{message}")


class UnknownNameError(CardioloraError):
    """A name (model, evaluation set, preset...) that is not known, with the closest known names."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = "") -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        message = f"unknown {kind} {name!r}"
        message += f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
        message += f" Known: {', '.join(known)}."
        if hint:
            message += f" {hint}"
        self.name = name
        self.close_matches = close
        super().__init__(message)


class ModelNotAvailableError(CardioloraError):
    """A known model whose weights are not on this machine; the message says how to get them."""
