"""Assertions shared by the command-line tests."""

from __future__ import annotations


def assert_clean_failure(result, *paths, fragments=()) -> None:
    """Exit code 2, one line on stderr holding every fragment, and no output (or temporary) file."""
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    for path in paths:
        assert not path.exists()
        assert not list(path.parent.glob(f".{path.name}*")), "a temporary file was left behind"
        assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"


def snapshot(root) -> dict:
    """Every file under ``root`` (hidden ones included) with its bytes and mode: compare a snapshot
    taken before a failed command with one taken after to show nothing was written or deleted."""
    from pathlib import Path

    root = Path(root)
    return {
        str(path.relative_to(root)): (path.read_bytes() if path.is_file() else None, path.stat().st_mode)
        for path in sorted(root.rglob("*"))
    }


def mode(path) -> int:
    """The permission bits of ``path`` (``0o644``...)."""
    from pathlib import Path

    return Path(path).stat().st_mode & 0o777
