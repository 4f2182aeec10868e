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
