"""One base model carrying many LoRA adapters, each selectable per batch.

PEFT keeps any number of named adapters on one model and activates one at a time
(``set_adapter``); the base model's weights are loaded once. The pool adds what a server needs on
top: names, a lock (a torch module is not safe to switch from two threads), loading only from a
configured directory, safetensors only, and the same encoding as the offline :class:`Embedder`.
"""

from __future__ import annotations

import copy
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from cardiolora.models.adapters import scale_adapter
from cardiolora.embedding import Embedder, check_adapter_dir
from cardiolora.errors import CardioloraError


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
    _counter: object = None

    @classmethod
    def load(cls, model: str, adapters: dict[str, str | Path] | None = None, *, adapter_root: str | Path | None = None,
             device: str | None = None, max_seq_length: int | None = None, trust_remote_code: bool = False,
             adapter_scale: float = 1.0) -> AdapterPool:  # fmt: skip
        embedder = Embedder.load(model, device=device, max_seq_length=max_seq_length, trust_remote_code=trust_remote_code)
        pool = cls(embedder, model, Path(adapter_root).resolve() if adapter_root else None)
        for name, path in (adapters or {}).items():
            pool.add(name, path, startup=True, scale=adapter_scale)
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
        if self.adapter_root is None:
            raise CardioloraError("run-time adapter loading is off: start the server with --adapter-dir DIR")
        candidate = (self.adapter_root / path).resolve()
        if not candidate.is_relative_to(self.adapter_root):
            raise CardioloraError(f"adapter path {str(path)!r} is outside the adapter directory")
        return candidate

    def add(self, name: str, path: str | Path, *, startup: bool = False, scale: float = 1.0) -> None:
        """Load the adapter at ``path`` as ``name`` (safetensors weights only), its LoRA update
        multiplied by ``scale``."""
        if not name or name == self.base_name or "/" in name:
            raise CardioloraError(f"invalid adapter name {name!r}")
        if name in self.adapters:
            raise CardioloraError(f"an adapter named {name!r} is already loaded")
        directory = check_adapter_dir(Path(path) if startup else self._resolve_runtime_path(path))
        with self.lock, warnings.catch_warnings():
            # PEFT warns on every second adapter that several will coexist: that is the point here.
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            try:
                self.model.load_adapter(str(directory), adapter_name=name)
            except (ValueError, RuntimeError, KeyError) as exc:
                raise CardioloraError(f"adapter {directory} does not fit model {self.base_name!r}: {exc}") from None
            try:
                scale_adapter(self.model, scale, adapter_name=name)
            except CardioloraError:
                self.model.delete_adapter(name)
                raise
            self.adapters[name] = directory

    def remove(self, name: str) -> None:
        if name not in self.adapters:
            raise AdapterNotFound(f"no adapter named {name!r} is loaded")
        with self.lock:
            self.model.delete_adapter(name)
            del self.adapters[name]

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
        if len(set(names)) == 1 or not lora_layers or not self._all_lora():
            return self._encode_grouped(texts, names)
        rows = ["__base__" if n == self.base_name else n for n in names]
        prompt = self.embedder.spec.prompt_for("similarity") or None
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self.lock, torch.inference_mode():
            self.model.enable_adapters()
            for start in range(0, len(texts), batch_size):
                chunk = order[start : start + batch_size]
                features = self.model.preprocess([texts[i] for i in chunk], prompt=prompt)
                features = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in features.items()}
                chunk_names = [rows[i] for i in chunk]
                handles = [
                    layer.register_forward_pre_hook(
                        lambda module, args, kwargs, chunk_names=chunk_names: (args, {**kwargs, "adapter_names": chunk_names}),
                        with_kwargs=True,
                    )
                    for layer in lora_layers
                ]  # fmt: skip
                try:
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
            if self.adapters:
                if name == self.base_name:
                    self.model.disable_adapters()
                else:
                    self.model.enable_adapters()
                    self.model.set_adapter(name)
            return self.embedder.encode(texts, show_progress=False)
