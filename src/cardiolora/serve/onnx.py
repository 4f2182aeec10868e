"""ONNX Runtime backends: each model (the base, and the base with each adapter merged into its
weights) exported to ONNX once, optionally with dynamic int8 quantization of the weights.

sentence-transformers' own ONNX backend goes through optimum's ONNX exporter (``optimum-onnx``),
which the package index here does not carry; ``torch.onnx.export`` of the model's forward pass
(transformer + pooling, through sentence-transformers' modules) and ONNX Runtime's
``quantize_dynamic`` do the same job. Exports are cached under ``<cache>/onnx/<key>/`` and keyed by
the weights' hashes, so a second start is fast.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock

from cardiolora.embedding import check_adapter_dir
from cardiolora.io import atomic_directory, sha256_file
from cardiolora.serve.pool import AdapterNotFound


class _Forward:
    """Inputs -> unnormalized sentence embedding, as the sentence-transformers model computes it."""

    def __new__(cls, model, input_names):
        import torch

        class Module(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors):
                return self.model(dict(zip(input_names, tensors, strict=True)))["sentence_embedding"]

        return Module()


def _weights_key(
    resolved, adapter: Path | None, quantize: bool, max_seq_length: int, adapter_scale: float = 1.0
) -> str:
    import onnxruntime
    import torch

    digest = hashlib.sha256()
    weights = sorted(Path(resolved.path).rglob("*.safetensors")) or sorted(Path(resolved.path).rglob("*.bin"))
    for path in weights:
        digest.update(sha256_file(path).encode())
    if adapter is not None:
        # The config too: lora_alpha and the targets change the merged weights as much as the weights do.
        for name in ("adapter_model.safetensors", "adapter_config.json"):
            digest.update(sha256_file(adapter / name).encode())
        if adapter_scale != 1.0:
            digest.update(f"scale {adapter_scale!r}".encode())
    digest.update(f"v3|{quantize}|{max_seq_length}|{torch.__version__}|{onnxruntime.__version__}".encode())
    return digest.hexdigest()[:20]


def export_onnx(
    model_name: str,
    adapter: str | Path | None,
    *,
    quantize: bool,
    trust_remote_code: bool = False,
    max_seq_length: int | None = None,
    cache: Path | None = None,
    adapter_scale: float = 1.0,
) -> Path:
    """The ONNX file for ``model_name`` (+ merged ``adapter``), exported once and cached."""

    from cardiolora.models import load_sentence_transformer, resolve_model
    from cardiolora.models.sources import cache_root

    adapter_path = check_adapter_dir(adapter) if adapter else None
    resolved = resolve_model(model_name)
    st = load_sentence_transformer(resolved, trust_remote_code=trust_remote_code, max_seq_length=max_seq_length)
    key = _weights_key(resolved, adapter_path, quantize, st.max_seq_length, adapter_scale)
    target = (cache or cache_root() / "onnx") / key
    if (target / "model.onnx").exists():
        return target / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    # One process exports a key at a time: two would each remove the other's half-built export.
    with FileLock(str(target) + ".lock"):
        if (target / "model.onnx").exists():  # another process finished it while this one waited
            return target / "model.onnx"
        return _export(st, target, model_name, adapter_path, quantize, adapter_scale)


def _export(st, target: Path, model_name: str, adapter_path: Path | None, quantize: bool, adapter_scale: float) -> Path:
    import torch

    if adapter_path is not None:
        from cardiolora.models.adapters import merge_adapter

        st[0].auto_model = merge_adapter(st[0].auto_model, adapter_path, adapter_scale)
    st.eval()
    sample = st.tokenizer(["mitral valve stenosis", "a pericardial effusion"], padding=True, return_tensors="pt")
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names} | {"embedding": {0: "batch"}}
    if target.exists():
        shutil.rmtree(target)
    with atomic_directory(target) as staging, torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python branches on shapes in the attention code; the exported graph is
        # checked against the torch model on varied lengths and paddings in tests/serve/test_onnx.py.
        warnings.simplefilter("ignore")
        raw = staging / ("model-fp32.onnx" if quantize else "model.onnx")
        torch.onnx.export(
            _Forward(st, input_names),
            tuple(sample[n] for n in input_names),
            str(raw),
            input_names=input_names,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # Per-channel int8 weights on the MatMuls only: per-tensor scales (the default) cost
            # minilm a minimum cosine of 0.84 to fp32 on the bundled sentences, per-channel 0.98.
            quantize_dynamic(
                str(raw),
                str(staging / "model.onnx"),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
            )
            raw.unlink()
        (staging / "export.json").write_text(
            json.dumps(
                {
                    "model": model_name,
                    "adapter": str(adapter_path) if adapter_path else None,
                    "quantize": quantize,
                    "inputs": input_names,
                    "max_seq_length": st.max_seq_length,
                }
            )
        )
    return target / "model.onnx"


@dataclass
class OnnxPool:
    """The server backend over ONNX Runtime sessions: one per model name (no run-time loading)."""

    base_name: str
    tokenizer: object
    prompt: str
    max_length: int
    dimension: int
    sessions: dict[str, object] = field(default_factory=dict)
    input_names: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: object = None

    @classmethod
    def load(
        cls,
        model: str,
        adapters: dict[str, str | Path] | None = None,
        *,
        quantize: bool = False,
        trust_remote_code: bool = False,
        max_seq_length: int | None = None,
        threads: int | None = None,
        adapter_scale: float = 1.0,
    ) -> OnnxPool:
        import onnxruntime as ort

        from cardiolora.models import load_sentence_transformer, resolve_model

        resolved = resolve_model(model)
        st = load_sentence_transformer(resolved, trust_remote_code=trust_remote_code, max_seq_length=max_seq_length)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        pool = cls(
            model,
            st.tokenizer,
            resolved.spec.prompt_for("similarity"),
            int(st.max_seq_length),
            int(st.get_embedding_dimension() or resolved.spec.dimension),
        )
        for name, adapter in {model: None, **(adapters or {})}.items():
            path = export_onnx(
                model,
                adapter,
                quantize=quantize,
                trust_remote_code=trust_remote_code,
                max_seq_length=max_seq_length,
                adapter_scale=adapter_scale if adapter else 1.0,
            )
            pool.input_names = json.loads((path.parent / "export.json").read_text())["inputs"]
            pool.sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return pool

    def names(self) -> list[str]:
        return list(self.sessions)

    def count_tokens(self, text: str) -> int:
        # A private copy: see AdapterPool.count_tokens (fast tokenizers are not thread-safe).
        if self._counter is None:
            self._counter = copy.deepcopy(self.tokenizer)
        return len(self._counter(self.prompt + text, add_special_tokens=True)["input_ids"])

    def encode(self, texts: list[str], name: str, batch_size: int = 32) -> np.ndarray:
        if name not in self.sessions:
            raise AdapterNotFound(f"unknown model {name!r}")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Length-sorted batches, as sentence-transformers' encode does: less padding.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = order[start : start + batch_size]
            encoded = self.tokenizer(
                [self.prompt + texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feeds = {n: encoded[n].astype(np.int64) for n in self.input_names}
            out[chunk] = self.sessions[name].run(["embedding"], feeds)[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
