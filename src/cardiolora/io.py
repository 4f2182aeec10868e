"""Atomic file output, directory locks and replacement, tolerant text input and content hashing.

Results are written to a temporary file beside the target and renamed into place, so a crash or a
bad input never leaves a half-written file where a finished one is expected. Published files and
directories get the user's normal mode (``0666``/``0777`` less the umask), not the private mode of
the temporary they were built in.

An output directory that a command fills or replaces (a training run, a study, an index, an export)
is locked while the command runs (:func:`lock_directory`), and an existing one is replaced only by a
complete new one, swapped in at the end (:func:`replace_directory`); ``--overwrite`` replaces only
directories that cardiolora recognises as its own (:func:`refuse_foreign_directory`).

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
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _publish_modes(tmp, current_umask())
        os.replace(tmp, target)
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
        if replace:
            replace_directory(tmp, target)
        else:
            os.rename(tmp, target)
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


# ------------------------------------------------------------------------- locks and replacement

# How long a lock attempt waits before it reports the holder: a holder releasing at that moment
# removes its lock file, and a contender that had opened it starts over on a new one.
_LOCK_WAIT_S = 0.5
# Locks this process holds, per thread: a command that calls the API (or a study that trains its
# runs) takes the same lock again without refusing itself.
_held: dict[tuple[str, int], int] = {}


def _absolute(path: str | Path) -> Path:
    """``path`` made absolute without following links (``.`` and ``runs/x/`` get a real name)."""
    return Path(os.path.abspath(path))


def lock_file(directory: str | Path) -> Path:
    """The lock file of ``directory``: ``.NAME.lock`` beside it (the directory itself may not exist
    yet, or be swapped for a new one while the lock is held). Links are followed, so two names of
    one directory share one lock."""
    directory = Path(directory).resolve()
    return directory.parent / f".{directory.name}.lock"


def _write_owner(fd: int) -> None:
    """Write this process's pid and command into the lock file it just locked (filelock's
    ``on_acquired``): a refused process reads them to name the holder."""
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n{command}\n".encode("utf-8", "backslashreplace"), 0)


def lock_owner(directory: str | Path) -> tuple[int | None, str]:
    """``(pid, command)`` written by the process holding ``directory``'s lock (``None`` if unknown).

    The holder writes them just after it takes the lock; a reader arriving in that instant retries
    briefly."""
    path = lock_file(directory)
    for _ in range(10):
        try:
            first, _, rest = path.read_text(encoding="utf-8", errors="replace").partition("\n")
        except OSError:
            first, rest = "", ""
        if first.strip().isdigit():
            return int(first), rest.strip()
        time.sleep(0.05)
    return None, ""


def _missing_parents(directory: Path) -> list[Path]:
    """``directory`` and its ancestors that do not exist, deepest first."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    return missing


def _remove_if_empty(directories: list[Path]) -> None:
    for directory in directories:  # deepest first; a directory that is not empty ends the walk
        try:
            directory.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def lock_directory(directory: str | Path, what: str = "directory") -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` (which need not exist) while the block runs.

    Two commands that fill, replace or resume one directory at once would mix or destroy each
    other's files. The lock is :func:`fcntl.flock` on ``.NAME.lock`` beside the directory (through
    filelock): the kernel drops it when the holder exits in any way, so a lock left by a killed
    process is taken over by the next one. The holder's pid and command are written into the file;
    a second process is refused with a :class:`~cardiolora.errors.CardioloraError` (exit 2) naming
    them. The file is removed on release (while still locked: filelock starts over when the file it
    locked has been unlinked), and parent directories created for it are removed again if they stay
    empty, so a refused or failed command leaves nothing behind.

    Taking the lock also finishes a :func:`replace_directory` that a killed process left half-done.
    Within one thread the lock is re-entrant. Yields the lock file's path.
    """
    from filelock import FileLock, Timeout

    from cardiolora.errors import CardioloraError

    path = lock_file(directory)
    key = (str(path), threading.get_ident())
    if key in _held:
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    created = _missing_parents(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=_LOCK_WAIT_S, on_acquired=_write_owner)
    try:
        lock.acquire()
    except Timeout:
        _remove_if_empty(created)
        pid, command = lock_owner(directory)
        holder = f"pid {pid}" + (f": {command}" if command else "") if pid else "pid unknown"
        raise CardioloraError(
            f"{what} {directory} is in use by another cardiolora process ({holder}); "
            "wait for it to finish, or stop that process"
        ) from None
    except BaseException:
        _remove_if_empty(created)
        raise
    _held[key] = 1
    try:
        recover_replace(directory)
        yield path
    finally:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        lock.release()
        _remove_if_empty(created)


def _aside(target: Path) -> Path:
    """Where :func:`replace_directory` keeps the old directory until the new one is in place."""
    target = _absolute(target)
    return target.parent / f".{target.name}.cardiolora-old"


def _remove_tree(path: Path) -> None:
    if path.is_symlink():  # a link put aside: the link goes, never what it points to
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def replace_directory(new: str | Path, target: str | Path) -> None:
    """Put the complete directory ``new`` at ``target``, replacing what is there.

    The old directory is renamed aside (``.NAME.cardiolora-old``), ``new`` renamed into place, then
    the old one removed: ``target`` always holds either the old or the new directory, never a mix,
    and a failed second rename puts the old one back. The caller holds ``target``'s lock; a process
    killed between the renames is repaired by the next lock holder (:func:`recover_replace`).
    """
    new, target = _absolute(new), _absolute(target)
    aside = _aside(target)
    had_old = os.path.lexists(target)
    if had_old:
        _remove_tree(aside)  # left by a failed removal: no longer anyone's
        os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        if had_old:
            os.rename(aside, target)
        raise
    if had_old:
        _remove_tree(aside)


def recover_replace(target: str | Path) -> None:
    """Finish a :func:`replace_directory` of ``target`` that a killed process left half-done: with
    the old directory aside and nothing at ``target`` the old one comes back; with both, the swap
    was done and only the old one's removal is left. Call it holding ``target``'s lock."""
    aside = _aside(target)
    if not os.path.lexists(aside):
        return
    if os.path.lexists(_absolute(target)):
        _remove_tree(aside)
    else:
        os.rename(aside, _absolute(target))


def refuse_foreign_directory(target: str | Path, is_ours: Callable[[Path], bool], kind: str) -> None:
    """Raise a :class:`~cardiolora.errors.CardioloraError` unless ``target`` may be replaced: it is
    missing, an empty directory, or a directory that ``is_ours`` recognises (by its own files) as a
    ``kind``. ``--overwrite`` never deletes what cardiolora did not write (a thesis folder, another
    project) because a path was mistyped."""
    from cardiolora.errors import CardioloraError

    target = Path(target)
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise CardioloraError(f"{target} exists and is not a directory; --overwrite replaces only a {kind}")
    if not any(target.iterdir()):
        return
    if not is_ours(target):
        raise CardioloraError(
            f"{target} is not empty and is not a {kind}; --overwrite replaces only a {kind}, so nothing was "
            "touched. Choose another directory, or move its contents away yourself"
        )


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when it is missing, unreadable or not an object (for
    recognising cardiolora's own files, never for input that must be valid)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


# ----------------------------------------------------------------------------------------- input


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


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSONL file.

    Raises :class:`~cardiolora.errors.InputError` naming the file and line for a missing file,
    text that is not UTF-8, malformed JSON (nesting too deep for the parser included), a string
    that is not valid Unicode, or a line that is not a JSON object. A byte-order mark is allowed.
    """
    from cardiolora.errors import InputError

    path = Path(path)
    for line_number, raw in iter_text_lines(path):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=line_number) from None
        except RecursionError:
            raise InputError("malformed JSON (nested too deeply)", path=path, line=line_number) from None
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise InputError(f"malformed JSON ({str(exc).split(';')[0]})", path=path, line=line_number) from None
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line_number)
        if _SURROGATE_ESCAPE.search(raw):
            try:
                json.dumps(record, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise InputError("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff escape), not text",
                                 path=path, line=line_number) from None  # fmt: skip
            except RecursionError:
                raise InputError("malformed JSON (nested too deeply)", path=path, line=line_number) from None
        yield line_number, record
