"""Output directories that a command fills or replaces (a training run, a study, an index, an
export): locked while the command runs (:func:`lock_directory`), replaced only by a complete new one
swapped in at the end (:func:`replace_directory`), and never replaced unless cardiolora recognises
them as its own (:func:`refuse_foreign_directory`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
