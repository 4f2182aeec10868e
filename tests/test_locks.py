"""Directory locks (one process at a time, the holder named, a killed holder's lock taken over) and
directory replacement (old or new, never a mix, nothing left beside)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from cardiolora.directories import (
    lock_directory,
    lock_file,
    lock_owner,
    recover_replace,
    refuse_foreign_directory,
    replace_directory,
)
from cardiolora.errors import CardioloraError
from cardiolora.io import atomic_directory

from .helpers import snapshot

# A process that takes a directory's lock, says so, and holds it until it is killed.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from cardiolora.directories import lock_directory

    with lock_directory(sys.argv[1], what="run directory"):
        print("locked", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def hold_lock():
    """``hold_lock(directory)`` starts a process holding ``directory``'s lock and returns it."""
    started = []

    def start(directory):
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        started.append(process)
        assert process.stdout.readline().strip() == "locked"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_second_process_is_refused_with_the_holders_pid_until_the_holder_is_killed(tmp_path, hold_lock):
    directory = tmp_path / "run"
    holder = hold_lock(directory)
    assert lock_owner(directory)[0] == holder.pid
    before = snapshot(tmp_path)
    with pytest.raises(
        CardioloraError, match=f"run directory {directory} is in use by another cardiolora process \\(pid {holder.pid}"
    ):
        with lock_directory(directory, what="run directory"):
            pytest.fail("the lock was taken twice")
    assert snapshot(tmp_path) == before  # the refused attempt wrote nothing
    # SIGKILL: no cleanup runs; the kernel drops the lock and the next process takes it over.
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock_file(directory).exists()  # left behind by the killed holder, naming it
    with lock_directory(directory):
        assert lock_owner(directory)[0] == os.getpid()
    assert not lock_file(directory).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_lock_is_refused_from_a_subprocess_while_this_process_holds_it(tmp_path):
    directory = tmp_path / "index"
    with lock_directory(directory, what="index directory"):
        with lock_directory(directory):  # re-entrant within a thread
            pass
        attempt = subprocess.run(
            [sys.executable, "-c", HOLDER, str(directory)], capture_output=True, text=True, timeout=60
        )
        assert attempt.returncode == 1
        assert f"{directory} is in use by another cardiolora process (pid {os.getpid()}" in attempt.stderr
    assert not list(tmp_path.iterdir())  # the lock file goes with the lock


def test_parents_made_for_the_lock_go_again_when_nothing_was_written(tmp_path):
    directory = tmp_path / "new" / "deeper" / "run"
    with lock_directory(directory):
        assert lock_file(directory).parent.is_dir()
    assert not (tmp_path / "new").exists()
    with lock_directory(directory):
        directory.mkdir()
    assert directory.is_dir() and not lock_file(directory).exists()


def test_replace_directory_swaps_and_removes_the_old(tmp_path):
    target, new = tmp_path / "index", tmp_path / "staging"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    replace_directory(new, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_a_failed_build_leaves_the_old_directory_and_nothing_beside(tmp_path):
    target = tmp_path / "index"
    target.mkdir()
    (target / "index.json").write_text("{}")
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError), atomic_directory(target, replace=True) as staging:
        (staging / "index.json").write_text("half")
        raise RuntimeError("killed halfway")
    assert snapshot(tmp_path) == before
    with atomic_directory(target, replace=True) as staging:
        (staging / "index.json").write_text("complete")
    assert (target / "index.json").read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_a_replace_killed_between_its_renames_is_repaired_by_the_next_lock_holder(tmp_path):
    target = tmp_path / "run"
    aside = tmp_path / ".run.cardiolora-old"
    aside.mkdir()  # the old run renamed aside; the process died before the new one was renamed in
    (aside / "metrics.json").write_text("old run")
    with lock_directory(target):
        assert (target / "metrics.json").read_text() == "old run"
    assert not aside.exists()
    aside.mkdir()  # the swap was done; the removal of the old one was not
    recover_replace(target)
    assert not aside.exists() and (target / "metrics.json").read_text() == "old run"


def test_only_recognised_directories_may_be_replaced(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    with pytest.raises(
        CardioloraError, match="is not empty and is not a cardiolora run directory; .*nothing was touched"
    ):
        refuse_foreign_directory(thesis, lambda path: False, "cardiolora run directory")
    (tmp_path / "empty").mkdir()
    refuse_foreign_directory(tmp_path / "empty", lambda path: False, "cardiolora run directory")
    refuse_foreign_directory(tmp_path / "missing", lambda path: False, "cardiolora run directory")
    refuse_foreign_directory(thesis, lambda path: True, "cardiolora run directory")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CardioloraError, match="exists and is not a directory"):
        refuse_foreign_directory(tmp_path / "file", lambda path: True, "cardiolora run directory")
