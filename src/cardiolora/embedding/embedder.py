"""Texts to unit-length vectors with a zoo model, optionally carrying a LoRA adapter."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cardiolora.errors import CardioloraError
from cardiolora.logs import library_bars_off
from cardiolora.models import ModelSpec, load_sentence_transformer, resolve_model
from cardiolora.models.adapters import adapter_base_model, describe_load_failure, model_for_adapter, scale_adapter
from cardiolora.models.registry import Role
from cardiolora.models.sources import LocalDirectory, ModelSource

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Above this many texts ``encode(show_progress=None)`` shows a progress bar.
PROGRESS_THRESHOLD = 512
PRECISIONS = ("fp32", "bf16")


def bf16_supported(device: str) -> bool:
    """Whether bf16 autocast runs natively here (CUDA with bf16, or a CPU with AVX-512 BF16 / AMX)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_adapter_dir(adapter: str | Path) -> Path:
    """An adapter directory as PEFT writes it, with safetensors weights (pickled weights are refused).

    A training run directory stands for its adapter: ``runs/x`` and ``runs/x/adapter`` are the same
    adapter, and the latter is returned."""
    path = Path(adapter).expanduser()
    if not path.is_dir():
        raise CardioloraError(f"adapter directory {path} does not exist")
    if not (path / "adapter_config.json").exists() and (path / "adapter" / "adapter_config.json").exists():
        path = path / "adapter"
    if not (path / "adapter_config.json").exists():
        raise CardioloraError(f"{path} is not a PEFT adapter directory: it has no adapter_config.json")
    if not (path / "adapter_model.safetensors").exists():
        pickled = [p.name for p in path.glob("adapter_model.*")]
        detail = f" (found {', '.join(pickled)}, which cardiolora never unpickles)" if pickled else ""
        raise CardioloraError(f"{path} has no adapter_model.safetensors{detail}")
    return path


@dataclass
class Embedder:
    """Encodes texts into L2-normalized float32 embeddings.

    Batching, length-sorted batches and the progress bar are sentence-transformers' ``encode``; this
    class adds what that call leaves to the caller: the model's prompt for the role of the text, a
    guaranteed unit norm and float32 output, input validation, and a description of what produced
    the vectors (saved beside every result).

    Example::

        embedder = Embedder.load("minilm")
        vectors = embedder.encode(["mitral stenosis", "aortic stenosis"])
        cosine = float(vectors[0] @ vectors[1])
    """

    model: SentenceTransformer
    spec: ModelSpec
    source: ModelSource | str = ""  # where the weights came from (resolve_model's ModelSource)
    adapter: Path | None = None
    batch_size: int = 32
    precision: str = "fp32"
    adapter_scale: float = 1.0
    # Matryoshka-style truncation: keep the first this many dimensions (renormalized), as the server's
    # ``dimensions`` does; None keeps all.
    truncate_dim: int | None = None

    def __post_init__(self) -> None:
        if self.truncate_dim is not None and not 1 <= self.truncate_dim <= self.full_dimension:
            raise CardioloraError(f"dimensions must be within 1..{self.full_dimension}, got {self.truncate_dim}")
        if self.precision not in PRECISIONS:
            raise CardioloraError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.precision == "bf16" and not bf16_supported(str(self.model.device)):
            raise CardioloraError(f"bf16 is not supported natively on {self.model.device} here; use fp32")

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        adapter: str | Path | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        max_seq_length: int | None = None,
        batch_size: int = 32,
        precision: str = "fp32",
        adapter_scale: float = 1.0,
    ) -> Embedder:
        """Load a zoo name, local model directory or locally cached hub id, plus an optional adapter
        (its directory or the training run directory holding it).

        ``model`` defaults to the adapter's base model (recorded when it was trained), and without
        an adapter to ``minilm``; a zoo model other than the adapter's base is refused.
        ``adapter_scale`` multiplies the LoRA update: 0 is the base model, 1 the adapter as trained,
        values between interpolate the weights (WiSE-FT), trading specialty gain for what the base
        model knew elsewhere. Loading prints nothing (no progress bars)."""
        adapter_path = check_adapter_dir(adapter) if adapter is not None else None
        if adapter_scale != 1.0 and adapter_path is None:
            raise CardioloraError("an adapter scale needs an adapter")
        model = model_for_adapter(model, adapter_path)
        resolved = resolve_model(model)
        with library_bars_off():
            st_model = load_sentence_transformer(
                resolved, device=device, trust_remote_code=trust_remote_code, max_seq_length=max_seq_length
            )
            if adapter_path is not None:
                try:
                    st_model.load_adapter(str(adapter_path))
                except (ValueError, RuntimeError, KeyError) as exc:
                    base = adapter_base_model(adapter_path)
                    trained_on = f" (trained on {base!r})" if base and base != model else ""
                    raise CardioloraError(
                        f"adapter {adapter_path}{trained_on} does not fit model {resolved.spec.name!r}: "
                        f"{describe_load_failure(exc)}"
                        + (f"; leave out the model (--model) to load {base!r}" if trained_on else "")
                    ) from None
                scale_adapter(st_model, adapter_scale)
        st_model.eval()
        return cls(st_model, resolved.spec, resolved.source, adapter_path, batch_size, precision, adapter_scale)

    @contextmanager
    def adapter_disabled(self) -> Iterator[Embedder]:
        """The base model inside the block (the adapter switched off), without a second copy of the weights."""
        if self.adapter is None:
            yield self
            return
        backbone = self.model[0].auto_model
        backbone.disable_adapters()
        try:
            yield self
        finally:
            backbone.enable_adapters()

    @property
    def full_dimension(self) -> int:
        """The model's own embedding dimension."""
        return int(self.model.get_embedding_dimension() or self.spec.dimension)

    @property
    def dimension(self) -> int:
        """The dimension of the vectors :meth:`encode` returns (``truncate_dim`` when set)."""
        return self.truncate_dim or self.full_dimension

    def encode(
        self,
        texts: Sequence[str],
        *,
        role: Role | None = "similarity",
        batch_size: int | None = None,
        show_progress: bool | None = False,
    ) -> np.ndarray:
        """Embed ``texts`` as an ``(n, dimension)`` float32 array of unit vectors.

        Args:
            texts: The texts; each must be a non-empty string.
            role: Which of the model's prompts to prepend: ``similarity`` for symmetric pair scoring,
                ``query`` or ``passage`` for retrieval, ``None`` for no prompt.
            batch_size: Texts per forward pass (default: the embedder's ``batch_size``).
            show_progress: Show a progress bar: ``False`` (the default: a library prints nothing
                unasked), ``True``, or ``None`` for one above 512 texts.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        for index, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise CardioloraError(f"text {index} is empty or not a string")
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if show_progress is None:
            show_progress = len(texts) > PROGRESS_THRESHOLD
        import torch

        # bf16 autocast runs the matrix products in bf16 (AMX / tensor cores) and keeps reductions
        # such as layer norms in float32.
        with torch.autocast(device_type=self.model.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            vectors = self.model.encode(
                list(texts),
                prompt=self.spec.prompt_for(role) or None,
                batch_size=batch_size or self.batch_size,
                show_progress_bar=show_progress,
                # numpy has no bf16: bf16 results come back as a tensor and are cast below.
                convert_to_tensor=self.precision == "bf16",
                normalize_embeddings=False,
            )
        if not isinstance(vectors, np.ndarray):
            vectors = vectors.float().cpu().numpy()
        vectors = vectors.astype(np.float32, copy=False)
        if self.truncate_dim is not None:
            vectors = vectors[:, : self.truncate_dim]
        # Normalize in float32 here: a model's own Normalize may have run in bf16 (and after truncation).
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    @property
    def reload_name(self) -> str:
        """What :meth:`load` takes to load this model again: its directory for a model given as a
        path, else its zoo name (or hub id)."""
        return str(self.source.path) if isinstance(self.source, LocalDirectory) else self.spec.name

    def describe(self) -> dict[str, Any]:
        """What produced the embeddings, for the metadata saved beside results."""
        return {
            "name": self.spec.name,
            "hub_id": self.spec.hub_id,
            "source": self.source if isinstance(self.source, str) else self.source.describe(),
            "family": self.spec.family,
            "pooling": self.spec.pooling,
            "dimension": self.dimension,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "max_seq_length": self.model.max_seq_length,
            "prompts": dict(self.spec.prompts),
            "adapter": str(self.adapter) if self.adapter else None,
            "adapter_scale": self.adapter_scale if self.adapter else None,
            "precision": self.precision,
            "truncate_dim": self.truncate_dim,
        }
