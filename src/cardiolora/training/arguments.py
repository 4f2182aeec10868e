"""sentence-transformers' training arguments for a configuration, and the batch sampler its loss needs."""

from __future__ import annotations

from pathlib import Path

from cardiolora.training.config import TrainConfig
from cardiolora.training.losses import uses_in_batch_negatives
from cardiolora.training.prepare import world_size
from cardiolora.training.run_directory import CHECKPOINTS


def training_arguments(
    config: TrainConfig, work_dir: Path, precision: str, primary_metric: str, prompt: str | None = None
):
    """sentence-transformers' training arguments for the configuration. ``prompt``: the zoo's
    similarity prompt (E5's ``query: ``, BGE's and Qwen3-Embedding's instructions), put before every
    training text as evaluation and serving put it before theirs: an adapter trained without it
    would be evaluated and served on inputs it never saw."""
    import torch
    from sentence_transformers import SentenceTransformerTrainingArguments

    evaluate_while_training = config.eval_steps is not None
    return SentenceTransformerTrainingArguments(
        output_dir=str(work_dir / CHECKPOINTS),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type=config.scheduler,
        weight_decay=config.weight_decay,
        adam_beta1=0.9,
        adam_beta2=0.999,
        seed=config.seed,
        data_seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if evaluate_while_training else "no",
        eval_steps=config.eval_steps,
        load_best_model_at_end=evaluate_while_training,
        metric_for_best_model=f"eval_{primary_metric}" if evaluate_while_training else None,
        greater_is_better=True,
        logging_steps=10,
        report_to=config.report_to or "none",
        batch_sampler=batch_sampler(config, uses_in_batch_negatives(config.loss)),
        dataloader_drop_last=world_size() > 1,
        ddp_find_unused_parameters=False if world_size() > 1 else None,
        # On CPUs accelerate starts a gloo process group only when told the run is CPU-only.
        use_cpu=not torch.cuda.is_available(),
        prompts=prompt or None,
    )


def batch_sampler(config: TrainConfig, ranking: bool):
    """In-batch-negative losses need batches without repeated texts; grouped by length, they carry
    less padding (see :mod:`cardiolora.training.sampler`)."""
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from cardiolora.training.sampler import LengthGroupedNoDuplicatesBatchSampler

    if not ranking:
        return BatchSamplers.BATCH_SAMPLER
    return LengthGroupedNoDuplicatesBatchSampler if config.group_by_length else BatchSamplers.NO_DUPLICATES
