"""cardiolora.io: published files get the user's normal mode; text input tolerates a BOM and fails
naming line and column."""

from __future__ import annotations

import contextlib
import json
import os

import pytest

from cardiolora.errors import InputError
from cardiolora.io import (
    atomic_directory,
    atomic_path,
    current_umask,
    iter_jsonl,
    iter_text_lines,
    read_text,
    write_json_atomic,
    write_text_atomic,
)

from .helpers import mode


@contextlib.contextmanager
def umask(value: int):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)]
)
def test_outputs_get_the_users_normal_mode(tmp_path, mask, file_mode, dir_mode):
    with umask(mask):
        assert current_umask() == mask
        text = write_text_atomic(tmp_path / "report.html", "<p>x</p>")
        data = write_json_atomic(tmp_path / "results.json", {"a": 1})
        with atomic_path(tmp_path / "vectors.npy") as tmp:
            tmp.write_bytes(b"\x93NUMPY")
        with atomic_directory(tmp_path / "model") as staging:
            # What transformers' save_pretrained does for model.safetensors: a private file of its own.
            weights = staging / "model.safetensors"
            weights.write_bytes(b"weights")
            weights.chmod(0o600)
            (staging / "sub").mkdir(mode=0o700)
            (staging / "sub" / "config.json").write_text("{}")
            script = staging / "run.sh"
            script.write_text("#!/bin/sh\n")
            script.chmod(0o700)
    for path in (text, data, tmp_path / "vectors.npy", tmp_path / "model" / "model.safetensors",
                 tmp_path / "model" / "sub" / "config.json"):  # fmt: skip
        assert mode(path) == file_mode, path
    assert mode(tmp_path / "model") == dir_mode and mode(tmp_path / "model" / "sub") == dir_mode
    assert mode(tmp_path / "model" / "run.sh") == dir_mode  # executable stays executable
    assert not list(tmp_path.glob(".*"))


def test_a_failed_block_publishes_nothing(tmp_path):
    (tmp_path / "keep.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "keep.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "dir") as staging:
        (staging / "a").write_text("x")
        raise RuntimeError
    assert (tmp_path / "keep.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]


def test_atomic_directory_replaces_an_empty_directory(tmp_path):
    (tmp_path / "out").mkdir()
    with atomic_directory(tmp_path / "out") as staging:
        (staging / "train.jsonl").write_text("{}\n")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["train.jsonl"]


def test_text_readers_drop_a_bom_and_keep_line_endings(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbffirst\r\nsecond\rthird\nlast")
    assert read_text(path) == "first\r\nsecond\rthird\nlast"
    assert list(iter_text_lines(path)) == [(1, "first\r\n"), (2, "second\r"), (3, "third\n"), (4, "last")]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_bytes(b'\xef\xbb\xbf{"text": "x"}\r\n\r\n{"text": "y"}\n')
    assert list(iter_jsonl(jsonl)) == [(1, {"text": "x"}), (3, {"text": "y"})]
    # A BOM is only dropped at the start; elsewhere it is text.
    inner = tmp_path / "b.txt"
    inner.write_bytes(b"a\n\xef\xbb\xbfb")
    assert read_text(inner) == "a\n\ufeffb"


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"ok\ncaf\xe9 au lait\n", 2, "byte 0xe9 at column 4"),
        (b"\xef\xbb\xbf\xff\n", 1, "byte 0xff at column 1"),
        (b"one\rtwo\r\x80\r", 3, "byte 0x80 at column 1"),
        ("\u00e9t\u00e9 ".encode() + b"\xc3(", 1, "column 5"),
    ],
)
def test_text_that_is_not_utf8_is_located(tmp_path, content, line, fragment):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    for read in (read_text, lambda p: list(iter_text_lines(p))):
        with pytest.raises(InputError, match="not UTF-8") as info:
            read(path)
        assert info.value.line == line and fragment in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "malformed JSON"),
        ('{"text": "\\ud800 lone"}', "lone UTF-16 surrogate"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("{oops", "malformed JSON"),
    ],
)
def test_jsonl_lines_that_json_cannot_give_as_objects(tmp_path, line, fragment):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + line + "\n")
    with pytest.raises(InputError, match=fragment) as info:
        list(iter_jsonl(path))
    assert info.value.line == 2


def test_paired_surrogate_escapes_are_text(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "heart \\ud83e\\udec0"}\n')
    assert list(iter_jsonl(path)) == [(1, {"text": "heart \U0001fac0"})]


def test_missing_and_unreadable_inputs(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="not a file"):
        list(iter_jsonl(tmp_path))


def test_a_saved_model_is_published_with_the_users_mode(tiny_model_dir, tmp_path):
    """transformers writes model.safetensors through a private temporary (0600); the published
    directory (a merged export, an unpacked model) must not keep that."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model_dir("bert")), device="cpu")
    with umask(0o022), atomic_directory(tmp_path / "merged") as staging:
        model.save(str(staging))
    files = [p for p in (tmp_path / "merged").rglob("*") if p.is_file()]
    assert any(p.name == "model.safetensors" for p in files)
    assert {p.name: mode(p) for p in files} == {p.name: 0o644 for p in files}
    assert mode(tmp_path / "merged") == 0o755


def test_atomic_writes_reach_the_disk_before_and_after_the_rename(tmp_path, monkeypatch):
    """fsync of the file before the rename and of its directory after: a power cut cannot leave an
    empty file where a finished one was."""
    import os

    from cardiolora import io

    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(io.os, "fsync", spy)
    target = tmp_path / "out" / "result.json"
    io.write_json_atomic(target, {"a": 1})
    assert len(synced) == 2
    assert synced[0].startswith(str(target.parent / ".result.json.")) and synced[1] == str(target.parent)
    synced.clear()
    with io.atomic_directory(tmp_path / "model") as staging:
        (staging / "weights.bin").write_bytes(b"x")
    assert any(s.endswith("weights.bin") for s in synced) and synced[-1] == str(tmp_path)


@pytest.mark.parametrize(("line", "field"), [('{"text": "a", "score": NaN}', "score"),
                                             ('{"text": "a", "meta": {"w": [1, -Infinity]}}', "meta.w.1")])  # fmt: skip
def test_nan_and_infinity_are_not_json(tmp_path, line, field):
    """A corpus row with NaN went into an index and broke every search that hit it (a 500)."""
    from cardiolora.errors import InputError
    from cardiolora.io import iter_jsonl

    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(InputError) as error:
        list(iter_jsonl(path))
    assert error.value.line == 2 and error.value.field == field and "NaN or Infinity" in str(error.value)


def test_index_build_refuses_a_nan_row(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from cardiolora.cli import app

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "mitral stenosis"}\n{"text": "aortic stenosis", "weight": NaN}\n')
    out = tmp_path / "index"
    result = CliRunner().invoke(app, ["index", "build", "--corpus", str(corpus), "-m", str(tiny_model_dir("bert")),
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 2 and f"{corpus}:2" in result.stderr and "weight" in result.stderr
    assert not out.exists()
