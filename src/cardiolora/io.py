"""Atomic file output, tolerant text input and content hashing (directory locks and replacement:
:mod:`cardiolora.directories`).

Results are written to a temporary file beside the target and renamed into place, so a crash or a
bad input never leaves a half-written file where a finished one is expected. Published files and
directories get the user's normal mode (``0666``/``0777`` less the umask), not the private mode of
the temporary they were built in.

Text input is UTF-8 with or without a byte-order mark (spreadsheets and Windows editors write
one); text that is not UTF-8 fails as an :class:`~cardiolora.errors.InputError` naming file, line
and column.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cardiolora.directories import replace_directory

# A JSON escape of a UTF-16 surrogate: only then can json.loads return a string that is not valid
# Unicode (a lone surrogate), which no UTF-8 writer, tokenizer or JSON encoder downstream accepts.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


# ----------------------------------------------------------------------------------------- modes


def current_umask() -> int:
    """The process's umask, read without changing it where Linux reports it (``/proc``).

    The portable fallback sets and restores it, which briefly affects files other threads create.
    """
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_modes(path: Path, umask: int) -> None:
    """Give ``path`` (and, for a directory, everything in it) the mode a plain ``open``/``mkdir``
    would have: temporaries are private (0600/0700) and some libraries write through their own."""
    if path.is_symlink():
        return
    if path.is_dir():
        path.chmod(0o777 & ~umask)
        for root, dirs, files in os.walk(path):
            for name in dirs:
                if not os.path.islink(os.path.join(root, name)):
                    os.chmod(os.path.join(root, name), 0o777 & ~umask)
            for name in files:
                _publish_modes(Path(root, name), umask)
        return
    executable = path.stat().st_mode & stat.S_IXUSR
    path.chmod((0o777 if executable else 0o666) & ~umask)


# ---------------------------------------------------------------------------------------- output


def fsync_path(path: str | Path) -> None:
    """Flush a file, or every file of a directory tree and the directories themselves, to the disk."""
    path = Path(path)
    if path.is_dir():
        for root, _, files in os.walk(path):
            for name in files:
                fsync_path(Path(root, name))
            fsync_directory(Path(root))
        return
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_directory(path: str | Path) -> None:
    """Flush a directory's entries (a rename into it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    The file is flushed to the disk before the rename and the directory after it: without both, a
    power cut can leave an empty or missing file where a finished one was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _publish_modes(tmp, current_umask())
        if tmp.exists():
            fsync_path(tmp)
        os.replace(tmp, target)
        fsync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(target: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; rename it onto ``target`` if the block succeeds.

    ``target`` must not exist yet, or be an empty directory (which the rename replaces): directories
    are published once and never filled in place. With ``replace`` an existing ``target`` is
    replaced (:func:`replace_directory`), and only once the new directory is complete; the caller
    decides that it may be (see :func:`refuse_foreign_directory`) and holds its lock. The directory
    stays private while it is built; a failed block removes it and leaves ``target`` as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        _publish_modes(tmp, current_umask())
        fsync_path(tmp)
        if replace:
            replace_directory(tmp, target)
        else:
            os.rename(tmp, target)
        fsync_directory(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(target: str | Path, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json_atomic(target: str | Path, data: Any) -> Path:
    return write_text_atomic(target, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------- input


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when it is missing, unreadable or not an object (for
    recognising cardiolora's own files, never for input that must be valid)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _not_utf8(path: Path, data: bytes, exc: UnicodeDecodeError, first_line: int = 1):
    """The :class:`InputError` for undecodable ``data`` (a file, or one of its lines)."""
    from cardiolora.errors import InputError

    before = data[: exc.start]
    line_start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
    line = first_line + len(before.splitlines()) - (1 if line_start < len(before) else 0)
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return InputError(
        f"not UTF-8 text ({exc.reason}: byte 0x{data[exc.start]:02x} at column {column}; save the file as UTF-8)",
        path=path,
        line=line,
    )


def _check_readable(path: Path) -> None:
    from cardiolora.errors import InputError

    if not path.exists():
        raise InputError("file not found", path=path)
    if not path.is_file():
        raise InputError("not a file", path=path)


def read_text(path: str | Path) -> str:
    """The whole text of a UTF-8 file, a byte-order mark at its start dropped.

    Raises :class:`~cardiolora.errors.InputError` for a missing or unreadable file and for text
    that is not UTF-8 (naming the line and column of the first bad byte).
    """
    from cardiolora.errors import InputError

    path = Path(path)
    _check_readable(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path=path) from None
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, data, exc) from None


def iter_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 file, streamed, each line with its ending.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (as in text mode) and keep their ending untranslated
    (what :mod:`csv` needs, ``newline=""``); a byte-order mark at the start is dropped. Each line is
    decoded on its own, so text that is not UTF-8 fails naming its line and column.
    """
    from cardiolora.errors import InputError

    path = Path(path)
    _check_readable(path)
    try:
        with open(path, "rb") as handle:
            number = 0
            for raw in handle:  # split at b"\n"; a UTF-8 multi-byte sequence never contains one
                if number == 0:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                for part in raw.splitlines(keepends=True):  # b"\r" ends a line too
                    number += 1
                    try:
                        line = part.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise _not_utf8(path, part, exc, first_line=number) from None
                    yield number, line
    except OSError as exc:  # opening or reading (the consumer's own errors never arrive here)
        raise InputError(f"cannot read ({exc.strerror})", path=path) from None


class _NonFinite(str):
    """What ``NaN``, ``Infinity`` or ``-Infinity`` parse to in :func:`iter_jsonl`: found and refused."""


def _non_finite_field(value: Any, where: str = "") -> str | None:
    """The dotted field path of the first :class:`_NonFinite` in a parsed JSON value, else None."""
    if isinstance(value, _NonFinite):
        return where or "(value)"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _non_finite_field(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file.

    Raises :class:`~cardiolora.errors.InputError` naming the file and line for a missing file,
    text that is not UTF-8, malformed JSON (nesting too deep for the parser included; NaN and
    Infinity, which Python reads but JSON does not have, named by field), a string that is not valid
    Unicode, or a line that is not a JSON object. A byte-order mark is allowed.
    """
    path = Path(path)
    for line_number, raw in iter_text_lines(path):
        record = parse_jsonl_line(raw, path, line_number)
        if record is not None:
            yield line_number, record


def parse_jsonl_line(raw: str, path: str | Path, line_number: int) -> dict[str, Any] | None:
    """The JSON object on one line of a JSONL file (``None`` for a blank line), checked as
    :func:`iter_jsonl` checks it; errors name ``path`` and ``line_number``. For readers that take
    a file apart themselves (a line range of a large file, :mod:`cardiolora.distributed`)."""
    from cardiolora.errors import InputError

    if not raw.strip():
        return None
    try:
        record = json.loads(raw, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=line_number) from None
    except RecursionError:
        raise InputError("malformed JSON (nested too deeply)", path=path, line=line_number) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise InputError(f"malformed JSON ({str(exc).split(';')[0]})", path=path, line=line_number) from None
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line_number)
    where = _non_finite_field(record)
    if where is not None:  # Python's json reads NaN and Infinity; JSON has neither (and a reply cannot hold them)
        raise InputError("NaN or Infinity is not a JSON number", path=path, line=line_number, field=where)
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff escape), not text",
                path=path,
                line=line_number,
            ) from None
        except RecursionError:
            raise InputError("malformed JSON (nested too deeply)", path=path, line=line_number) from None
    return record
