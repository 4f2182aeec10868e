"""One base model carrying many LoRA adapters, each selectable per batch.

PEFT keeps any number of named adapters on one model and activates one at a time
(``set_adapter``); the base model's weights are loaded once. The pool adds what a server needs on
top: names, a lock (a torch module is not safe to switch from two threads), loading only from a
configured directory, safetensors only, and the same encoding as the offline :class:`Embedder`.

Speed: an unmerged LoRA adapter costs a second small matrix product in every adapted layer. A batch
for one LoRA adapter therefore runs on a copy of the model with that adapter merged into the weights
(as fast as the base model), kept for the most recently used adapters within ``merged_cache_bytes``
(least recently used first out); a batch that mixes adapters runs PEFT's mixed-adapter forward on
the shared model, and an adapter beyond the budget runs unmerged. The merged copies are built from
the loaded adapter (its scale included), so merged and unmerged vectors agree to float rounding.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import stat
import tempfile
import threading
import warnings
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from cardiolora.embedding import Embedder, check_adapter_dir
from cardiolora.errors import CardioloraError
from cardiolora.models.adapters import adapter_base_model, check_base_model, scale_adapter, zoo_name
from cardiolora.serve.http import SURROGATE


class EncodingBackend(Protocol):
    """What the server needs from a backend: names, encoding per name, token counts."""

    base_name: str

    def names(self) -> list[str]: ...

    def encode(self, texts: list[str], name: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_length(self) -> int: ...


class AdapterNotFound(CardioloraError):
    pass


class InvalidAdapterName(CardioloraError):
    pass


MAX_NAME_LENGTH = 64
logger = logging.getLogger("cardiolora.serve")
# What PEFT reads of an adapter directory (safetensors only: pickled weights are never loaded).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")

# Merged-copy admission (AdapterPool._merged_embedder): the batches an adapter's recent uses are
# counted over, and how often it must have been used in them to evict another model's copy.
ADMISSION_WINDOW = 16
ADMISSION_MIN_USES = 4


def check_adapter_name(name: str, base_name: str | None = None) -> str:
    """``name`` if it can name an adapter, else :class:`InvalidAdapterName`.

    Names travel in JSON, URLs, logs and Prometheus labels, and PEFT reserves ``__base__`` for
    "no adapter" in a mixed batch (a row so named would silently get the base model, or an
    adapter of that name depending on its batch-mates): names starting with ``__`` are refused,
    as are empty or padded names, ``/`` (a path, and the admin API's URL), control characters
    (NUL included), lone surrogates and names over ``MAX_NAME_LENGTH`` characters.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidAdapterName("an adapter name must be a non-empty string")
    shown = ascii(name[:MAX_NAME_LENGTH])
    if name == base_name:
        raise InvalidAdapterName(f"adapter name {shown} is the base model's name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidAdapterName(f"adapter name {shown}... is longer than {MAX_NAME_LENGTH} characters")
    if name.startswith("__"):
        raise InvalidAdapterName(f"adapter name {shown} is reserved: names starting with '__' belong to PEFT")
    if "/" in name or not name.isprintable() or name != name.strip():
        raise InvalidAdapterName(
            f"invalid adapter name {shown}: no '/', control characters, lone surrogates or surrounding spaces"
        )
    return name


@dataclass
class AdapterPool:
    """A base :class:`Embedder` and the adapters loaded on it by name.

    Args:
        embedder: The base model (loaded once).
        base_name: The name that selects the base model without any adapter.
        adapter_root: Run-time loads (``load(name, path)``) must resolve inside this directory;
            ``None`` forbids run-time loads (adapters given at start-up are still served).
    """

    embedder: Embedder
    base_name: str
    adapter_root: Path | None = None
    adapters: dict[str, Path] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Bytes of weights the merged copies may hold together (0: never merge).
    merged_cache_bytes: int = 0
    # The LoRA update's multiplier for every adapter, startup and run-time loads alike (--adapter-scale).
    adapter_scale: float = 1.0
    _counter: object = None
    _merged: OrderedDict[str, Embedder] = field(default_factory=OrderedDict)
    _base_bytes: int | None = None
    # The models of the last ADMISSION_WINDOW single-model batches: which adapters earn a copy.
    _recent: deque = field(default_factory=lambda: deque(maxlen=ADMISSION_WINDOW))
    _batches_since_build: int = ADMISSION_WINDOW
    # Single-model batches a merged copy ran (hit), that ran unmerged although a copy exists (switch:
    # the last batch was another model's) or with no copy (miss), and copies built: /metrics.
    merge_stats: dict[str, int] = field(default_factory=lambda: {"hit": 0, "switch": 0, "miss": 0, "built": 0})
    _last_name: str | None = None

    @classmethod
    def load(
        cls,
        model: str,
        adapters: dict[str, str | Path] | None = None,
        *,
        adapter_root: str | Path | None = None,
        device: str | None = None,
        max_seq_length: int | None = None,
        trust_remote_code: bool = False,
        adapter_scale: float = 1.0,
        precision: str = "fp32",
        merged_cache_mb: float = 0,
    ) -> AdapterPool:
        """The base model ``model`` (in ``precision``: fp32, bf16, or auto for bf16 where the
        hardware runs it natively) with ``adapters`` (name -> directory) loaded on it, and up to
        ``merged_cache_mb`` MB of merged copies for single-adapter batches."""
        from cardiolora.training.prepare import resolve_precision

        embedder = Embedder.load(
            model,
            device=device,
            max_seq_length=max_seq_length,
            trust_remote_code=trust_remote_code,
            precision=resolve_precision(precision) if precision == "auto" else precision,
        )
        pool = cls(
            embedder,
            model,
            Path(adapter_root).resolve() if adapter_root else None,
            merged_cache_bytes=int(merged_cache_mb * 1_000_000),
            adapter_scale=adapter_scale,
        )
        for name, path in (adapters or {}).items():
            pool.add(name, path, startup=True)
        return pool

    @property
    def model(self):
        return self.embedder.model

    @property
    def dimension(self) -> int:
        return self.embedder.dimension

    @property
    def max_length(self) -> int:
        return int(self.embedder.model.max_seq_length)

    def names(self) -> list[str]:
        return [self.base_name, *self.adapters]

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with the model's prompt, counted on a private copy of the tokenizer:
        the server counts on its event loop while the encoding thread tokenizes, and a fast
        tokenizer's truncation/padding state is not thread-safe."""
        if self._counter is None:
            self._counter = copy.deepcopy(self.model.tokenizer)
        prompt = self.embedder.spec.prompt_for("similarity") or ""
        return len(self._counter(prompt + text, add_special_tokens=True)["input_ids"])

    def _resolve_runtime_path(self, path: str | Path) -> Path:
        """``path`` (relative to the adapter directory) resolved and checked to lie inside it, the
        adapter directory ``check_adapter_dir`` picks (``RUN/adapter`` for a run) resolved and checked
        again, and its two files checked to be regular files there (no symlink, no FIFO, no device).
        Messages name the path as the client gave it, never the server's absolute paths."""
        if self.adapter_root is None:
            raise CardioloraError("run-time adapter loading is off: start the server with --adapter-dir DIR")
        text = str(path)
        shown = ascii(text[:200])
        if "\x00" in text:
            raise CardioloraError(f"adapter path {shown} contains a NUL byte")
        if SURROGATE.search(text):
            raise CardioloraError(f"adapter path {shown} holds a lone surrogate (not valid Unicode)")
        try:
            candidate = (self.adapter_root / path).resolve()
            if not candidate.is_relative_to(self.adapter_root):
                raise CardioloraError(f"adapter path {shown} is outside the adapter directory")
            try:
                directory = check_adapter_dir(candidate).resolve()
            except CardioloraError as exc:
                # check_adapter_dir names the server's absolute path: say the same without it
                pickled = "never unpickles" in str(exc)
                raise CardioloraError(
                    f"adapter path {shown} holds pickled weights (adapter_model.bin), which cardiolora never "
                    "unpickles: save the adapter as adapter_model.safetensors"
                    if pickled
                    else f"adapter path {shown} is not an adapter directory (adapter_config.json and "
                    "adapter_model.safetensors, or a training run holding them)"
                ) from None
            if not directory.is_relative_to(self.adapter_root):  # RUN/adapter, a symlink out of the root
                raise CardioloraError(f"adapter path {shown} leads outside the adapter directory")
            for name in ADAPTER_FILES:
                mode = os.lstat(directory / name).st_mode
                if not stat.S_ISREG(mode):
                    raise CardioloraError(f"adapter path {shown}: {name} is not a regular file (a link, a pipe?)")
        except OSError as exc:  # a name too long, a loop of symlinks, no permission
            reason = exc.strerror or type(exc).__name__
            raise CardioloraError(f"adapter path {shown} cannot be read: {reason}") from None
        return directory

    def _private_copy(self, directory: Path, shown: str) -> Path:
        """The adapter's two files read once, without following links (``O_NOFOLLOW``), as regular
        files, into a private temporary directory PEFT then loads from: a file swapped after the
        checks cannot be what is loaded."""
        staging = Path(tempfile.mkdtemp(prefix="cardiolora-adapter-"))
        try:
            for name in ADAPTER_FILES:
                fd = os.open(directory / name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
                with os.fdopen(fd, "rb") as source:
                    if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                        raise CardioloraError(f"adapter path {shown}: {name} is not a regular file")
                    with open(staging / name, "wb") as target:
                        shutil.copyfileobj(source, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise CardioloraError(
                f"adapter path {shown} cannot be read: {exc.strerror or type(exc).__name__}"
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return staging

    def _peft_names(self) -> set[str]:
        """The adapters PEFT holds on the model, loaded fully or not."""
        return set(getattr(self.model[0].auto_model, "peft_config", None) or {})

    def _forget(self, name: str) -> None:
        """Remove every trace of adapter ``name`` from the model: PEFT's layers and config, and the
        trained scaling ``scale_adapter`` keeps (a later adapter of the same name must not inherit it)."""
        from peft.tuners.lora import LoraLayer

        if name in self._peft_names():
            self.model.delete_adapter(name)
        for module in self.model.modules():
            if isinstance(module, LoraLayer):
                module.__dict__.get("_cardiolora_trained_scaling", {}).pop(name, None)

    def add(self, name: str, path: str | Path, *, startup: bool = False, scale: float | None = None) -> None:
        """Load the adapter at ``path`` as ``name`` (safetensors weights only), its LoRA update
        multiplied by ``scale`` (default: the server's ``adapter_scale``). A run-time load (not
        ``startup``) is checked as a startup one is (the base model it was trained on) and more
        (:meth:`_resolve_runtime_path`), loads a private copy of the checked files, and fails with
        messages that name the client's path and no server internals."""
        check_adapter_name(name, self.base_name)
        if name in self.adapters:
            raise CardioloraError(f"an adapter named {name!r} is already loaded")
        scale = self.adapter_scale if scale is None else scale
        if startup:
            directory = source = check_adapter_dir(Path(path))
        else:
            shown = ascii(str(path)[:200])
            directory = self._resolve_runtime_path(path)
            trained = adapter_base_model(directory)
            try:
                check_base_model(self.base_name, directory, trained)
            except CardioloraError:
                raise CardioloraError(
                    f"adapter path {shown} was trained on model {zoo_name(trained) or trained!r}, not "
                    f"{self.base_name!r}: its vectors would be wrong here"
                ) from None
            source = self._private_copy(directory, shown)
        try:
            self._load(name, directory, source, startup, scale)
        finally:
            if source != directory:
                shutil.rmtree(source, ignore_errors=True)

    def _load(self, name: str, directory: Path, source: Path, startup: bool, scale: float) -> None:
        with self.lock, warnings.catch_warnings():
            # PEFT warns on every second adapter that several will coexist: that is the point here.
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            try:
                self.model.load_adapter(str(source), adapter_name=name)
                scale_adapter(self.model, scale, adapter_name=name)
            except BaseException as exc:
                # PEFT injects the adapter's layers before it reads config values and weights: a
                # failure would leave a half-loaded adapter holding the name until a restart.
                try:
                    self._forget(name)
                except Exception:
                    logger.exception("could not remove the half-loaded adapter %r", name)
                if isinstance(exc, CardioloraError) or not isinstance(exc, Exception):
                    raise
                # The files are the user's: a corrupt safetensors, a bad adapter_config.json or
                # another model's adapter raise whatever their parser raises. A client is told that
                # much; the library's own text (paths, internals) goes to the log.
                if not startup:
                    logger.warning("run-time adapter %r failed to load: %s: %s", name, type(exc).__name__, exc)
                    raise CardioloraError(
                        f"the adapter could not be loaded onto model {self.base_name!r} (not a valid adapter for it)"
                    ) from None
                raise CardioloraError(
                    f"adapter {directory} could not be loaded onto model {self.base_name!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            self.adapters[name] = directory

    def remove(self, name: str) -> None:
        if name not in self.adapters:
            raise AdapterNotFound(f"no adapter named {name!r} is loaded")
        with self.lock:
            self._merged.pop(name, None)
            self._forget(name)
            del self.adapters[name]

    @property
    def merged_names(self) -> list[str]:
        """The adapters that have a merged copy now, least recently used first."""
        return list(self._merged)

    def _weight_bytes(self) -> int:
        """Bytes of the base model's weights (what one merged copy costs), adapters left out; the
        same whatever adapters come and go, so counted once (it is asked on every mixed batch)."""
        if self._base_bytes is None:
            self._base_bytes = sum(
                p.numel() * p.element_size() for n, p in self.model.named_parameters() if "lora_" not in n
            )
        return self._base_bytes

    def _merged_embedder(self, name: str) -> Embedder | None:
        """The merged copy for adapter ``name``, or None (the batch then runs unmerged); for the base
        model's name, a copy without any adapter layer. Call it holding the lock.

        A copy costs a full model copy on the encoding thread, so one is built only when it pays
        (:meth:`_earns_a_copy`): with room in the budget, at once; when a copy must be evicted for
        it, only for a model used more often lately than the least recently used copy's model, and
        at most once every ADMISSION_WINDOW batches. Requests rotating over more adapters than the
        budget holds then run unmerged instead of copying the model at every batch. An existing copy
        serves a batch only when the last batch was for the same model (see the comment below)."""
        self._recent.append(name)
        self._batches_since_build += 1
        previous, self._last_name = self._last_name, name
        if name in self._merged:
            self._merged.move_to_end(name)
            if previous != name:
                # A batch for another model than the last one runs on the shared weights, so no batch
                # switches between weight sets; copies serve runs of one model, where merging pays.
                # Not shown to matter on its own: benchmarks/merged_copies.py measures the policy
                # as a whole (README, serving).
                self.merge_stats["switch"] += 1
                return None
            self.merge_stats["hit"] += 1
            return self._merged[name]
        self.merge_stats["miss"] += 1
        if name != self.base_name and not self._is_lora(name):
            return None
        cost = self._weight_bytes()
        if cost > self.merged_cache_bytes or not self._earns_a_copy(name, cost):
            return None
        while self._merged and cost * (len(self._merged) + 1) > self.merged_cache_bytes:
            self._merged.popitem(last=False)
        self._batches_since_build = 0
        self.merge_stats["built"] += 1
        base = self.embedder
        model = merged_copy(self.model, name)
        adapter = self.adapters.get(name)
        self._merged[name] = Embedder(model, base.spec, base.source, adapter, base.batch_size, base.precision)
        return self._merged[name]

    def _earns_a_copy(self, name: str, cost: int) -> bool:
        """Whether ``name`` gets a merged copy now (see :meth:`_merged_embedder`)."""
        if cost * (len(self._merged) + 1) <= self.merged_cache_bytes:
            return True  # room: nothing is evicted
        if self._batches_since_build < ADMISSION_WINDOW:
            return False  # a copy was built lately: no eviction every batch
        uses = self._recent.count(name)
        victim = next(iter(self._merged))
        return uses >= ADMISSION_MIN_USES and uses > self._recent.count(victim)

    def _all_merged_fit(self, names: set[str]) -> bool:
        """Whether a merged copy of every model in ``names`` fits the budget at once."""
        if not self.merged_cache_bytes or not all(n == self.base_name or self._is_lora(n) for n in names):
            return False
        return self._weight_bytes() * len(names) <= self.merged_cache_bytes

    def _is_lora(self, name: str) -> bool:
        return name in lora_adapter_names(self.model)

    def encode_mixed(self, texts: list[str], names: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors for ``texts``, row i through the model ``names[i]``, in as few forward
        passes as possible: PEFT's mixed-adapter LoRA forward (``adapter_names``) applies each row's
        adapter inside every LoRA layer, so 8 adapters cost about what 1 does. PEFT exposes that
        through ``PeftModel.forward`` only; sentence-transformers' modules hold a transformers model
        with PEFT layers injected, so the same forward pre-hook PEFT registers is registered here.
        Adapters that are not LoRA fall back to one call per model."""
        import torch
        from peft.tuners.lora import LoraLayer

        for name in set(names):
            if name != self.base_name and name not in self.adapters:
                raise AdapterNotFound(f"unknown model {name!r}")
        lora_layers = [m for m in self.model.modules() if isinstance(m, LoraLayer)]
        # Merged copies for every model of the batch, one pass each, beat one unmerged mixed pass.
        if len(set(names)) == 1 or not lora_layers or not self._all_lora() or self._all_merged_fit(set(names)):
            return self._encode_grouped(texts, names)
        rows = ["__base__" if n == self.base_name else n for n in names]
        prompt = self.embedder.spec.prompt_for("similarity") or None
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        bf16 = self.embedder.precision == "bf16"  # as Embedder.encode runs it
        with self.lock, torch.inference_mode():
            self.model.enable_adapters()
            for start in range(0, len(texts), batch_size):
                chunk = order[start : start + batch_size]
                features = self.model.preprocess([texts[i] for i in chunk], prompt=prompt)
                features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
                chunk_names = [rows[i] for i in chunk]
                handles = [
                    layer.register_forward_pre_hook(
                        lambda module, args, kwargs, chunk_names=chunk_names: (
                            args,
                            {**kwargs, "adapter_names": chunk_names},
                        ),
                        with_kwargs=True,
                    )
                    for layer in lora_layers
                ]
                try:
                    with torch.autocast(self.model.device.type, dtype=torch.bfloat16, enabled=bf16):
                        vectors = self.model(features)["sentence_embedding"]
                finally:
                    for handle in handles:
                        handle.remove()
                out[chunk] = vectors.float().cpu().numpy()
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _all_lora(self) -> bool:
        configs = getattr(self.model[0].auto_model, "peft_config", {}) or {}
        return all(type(c).__name__ == "LoraConfig" and not getattr(c, "use_dora", False) for c in configs.values())

    def _encode_grouped(self, texts: list[str], names: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for name in dict.fromkeys(names):
            index = [i for i, n in enumerate(names) if n == name]
            out[index] = self.encode([texts[i] for i in index], name)
        return out

    def encode(self, texts: list[str], name: str) -> np.ndarray:
        """Unit vectors for ``texts`` with the adapter ``name`` (or the base model)."""
        if name != self.base_name and name not in self.adapters:
            raise AdapterNotFound(f"unknown model {name!r}")
        with self.lock:
            # The base model too: with adapters loaded, its layers carry PEFT's wrappers.
            if self.merged_cache_bytes and (name != self.base_name or self.adapters):
                merged = self._merged_embedder(name)
                if merged is not None:
                    return merged.encode(texts, show_progress=False)
            if self.adapters:
                if name == self.base_name:
                    self.model.disable_adapters()
                else:
                    self.model.enable_adapters()
                    self.model.set_adapter(name)
            return self.embedder.encode(texts, show_progress=False)


def lora_adapter_names(model) -> list[str]:
    """The LoRA adapters (the kind a merged copy can fold in) loaded on a sentence-transformers model."""
    configs = getattr(model[0].auto_model, "peft_config", None) or {}
    return [name for name, config in configs.items() if type(config).__name__ == "LoraConfig"]


def merged_copy(model, name: str):
    """A copy of the sentence-transformers ``model`` with LoRA adapter ``name`` folded into its
    weights and every PEFT layer replaced by its base layer: a plain model, as fast as the base.

    By hand because PEFT's ``merge_and_unload`` belongs to ``PeftModel``, and sentence-transformers
    holds a transformers model with PEFT layers injected (transformers' PEFT integration), which
    has no unload; each layer's own ``merge`` does the arithmetic (with the adapter's scaling)."""
    from peft.tuners.lora import LoraLayer

    clone = copy.deepcopy(model)
    backbone = clone[0].auto_model
    for parent in list(backbone.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, LoraLayer):
                if name in child.lora_A:
                    child.merge(adapter_names=[name])
                setattr(parent, child_name, child.get_base_layer())
    for attribute in ("peft_config", "_hf_peft_config_loaded"):
        backbone.__dict__.pop(attribute, None)
    clone.eval()
    return clone
