from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from cardiolora.errors import CardioloraError
from cardiolora.models.sources import unpack_split_zip


def _split_archive(tmp_path: Path, n_parts: int = 3) -> tuple[list[Path], str]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model-dir/", "")
        archive.writestr("model-dir/config.json", json.dumps({"model_type": "bert"}))
        archive.writestr("model-dir/weights.bin", bytes(range(256)) * 400)
        archive.writestr("model-dir/sub/desktop.ini", "[.ShellClassInfo]")
        archive.writestr("other/ignored.txt", "not part of the model")
    data = buffer.getvalue()
    size = len(data) // n_parts + 1
    parts = []
    for i in range(n_parts):
        part = tmp_path / f"archive.zip.{i + 1:03d}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts, hashlib.sha256(data).hexdigest()


def test_split_archive_is_joined_verified_and_unpacked(tmp_path):
    parts, digest = _split_archive(tmp_path)
    target = tmp_path / "cache" / "model"
    assert unpack_split_zip(parts, digest, "model-dir", target) == target
    assert json.loads((target / "config.json").read_text()) == {"model_type": "bert"}
    assert (target / "weights.bin").read_bytes() == bytes(range(256)) * 400
    assert not (target / "sub" / "desktop.ini").exists()
    assert not (target / "ignored.txt").exists()
    # Nothing but the model (and its lock) is left in the cache.
    assert sorted(p.name for p in target.parent.iterdir()) == ["model", "model.lock"]
    # A second call finds it finished and does no work.
    for part in parts:
        part.unlink()
    assert unpack_split_zip(parts, digest, "model-dir", target) == target


def test_parts_in_the_wrong_order_fail_the_checksum_and_leave_nothing(tmp_path):
    parts, digest = _split_archive(tmp_path)
    target = tmp_path / "cache" / "model"
    with pytest.raises(CardioloraError, match="sha256"):
        unpack_split_zip(list(reversed(parts)), digest, "model-dir", target)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == ["model.lock"]


def test_a_killed_unpack_leaves_no_finished_looking_directory(tmp_path, monkeypatch):
    parts, digest = _split_archive(tmp_path)
    target = tmp_path / "cache" / "model"
    calls = {"n": 0}
    real_copy = shutil.copyfileobj

    def dying_copy(src, dst, length=0):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-unpack")
        return real_copy(src, dst, length)

    monkeypatch.setattr(shutil, "copyfileobj", dying_copy)
    with pytest.raises(KeyboardInterrupt):
        unpack_split_zip(parts, digest, "model-dir", target)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == ["model.lock"]
    monkeypatch.setattr(shutil, "copyfileobj", real_copy)
    unpack_split_zip(parts, digest, "model-dir", target)
    assert (target / "config.json").exists()


@pytest.mark.parametrize("member", ["model-dir//tmp/escaped.txt", "model-dir/../escaped.txt", "model-dir/a/../../x"])
def test_a_member_outside_the_directory_is_refused_and_nothing_lands_outside(tmp_path, member):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model-dir/config.json", "{}")
        archive.writestr(member, "escaped")
    part = tmp_path / "archive.zip.001"
    part.write_bytes(buffer.getvalue())
    target = tmp_path / "cache" / "model"
    with pytest.raises(CardioloraError, match="outside its directory"):
        unpack_split_zip([part], hashlib.sha256(buffer.getvalue()).hexdigest(), "model-dir", target)
    assert not target.exists() and not Path("/tmp/escaped.txt").exists()
    assert not (tmp_path / "cache" / "escaped.txt").exists()
