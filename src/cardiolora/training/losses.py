"""Training objectives assembled from sentence-transformers' losses.

What sentence-transformers lacks is a weighted sum of objectives over one batch that embeds each
text once; :class:`WeightedSumLoss` is that (a few lines over the library's ``embed_columns`` and
each loss's ``compute_loss_from_embeddings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.sentence_transformer import losses
from torch import Tensor, nn

from cardiolora.training.config import LossSettings


class TargetCosineLoss(nn.Module):
    """Cosine targets on (anchor, positive[, negative]) batches: anchor-positive pairs labelled
    ``positive_target`` (or the row's graded target), anchor-negative pairs ``negative_target``.

    ``scoring`` picks how the labelled pairs are scored, each one of sentence-transformers' losses:
    ``mse`` (CosineSimilarityLoss: each cosine pulled to its label, an absolute target) or
    ``cosent`` / ``angle`` (CoSENTLoss / AnglELoss: every pair with a higher label must score above
    every pair with a lower one, across the whole batch; no absolute level). Measured beside InfoNCE,
    the ordering-only terms let the whole space collapse to high cosines (docs/recipes.md row 20):
    the absolute ``mse`` term is what spreads it.
    """

    def __init__(self, model, positive_target: float, negative_target: float, scoring: str = "mse") -> None:
        super().__init__()
        self.model = model
        self.positive_target = positive_target
        self.negative_target = negative_target
        scorers = {"mse": losses.CosineSimilarityLoss, "cosent": losses.CoSENTLoss, "angle": losses.AnglELoss}
        if scoring not in scorers:
            raise ValueError(f"unknown scoring {scoring!r}")
        self.scorer = scorers[scoring](model)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        anchor, *others = embeddings
        lefts, rights, targets = [], [], []
        for column, target in zip(others, (self.positive_target, self.negative_target), strict=False):
            lefts.append(anchor)
            rights.append(column)
            targets.append(torch.full((len(anchor),), target, device=anchor.device))
        if labels is not None and labels.dim() == 2:
            # Per-row positive targets (graded relations), see ``row_labels`` in the trainer.
            targets[0] = labels[:, 1].to(anchor.device, dtype=anchor.dtype)
        return self.scorer.compute_loss_from_embeddings([torch.cat(lefts), torch.cat(rights)], torch.cat(targets))

    def forward(self, sentence_features, labels=None) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)


class CategoryMaskedInfoNCELoss(nn.Module):
    """InfoNCE whose in-batch negatives skip the other rows of the anchor's own clinical category.

    Two members of one category (say, two ischemic diagnoses) are related, and the separation score
    counts them as similar; plain InfoNCE pushes them apart whenever they share a batch. The batch's
    ``label`` column holds each row's category id (-1: none, never masked). Each row's own positive
    and the hard negatives stay as they are. sentence-transformers has no label-aware masking of
    false negatives (GISTEmbed masks by a guide model's similarity, which needs a second model).
    """

    def __init__(self, model, scale: float, symmetric: bool = False) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.symmetric = symmetric

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        from sentence_transformers.util import cos_sim

        anchor, positive, *negatives = embeddings
        size = len(anchor)
        same = torch.zeros((size, size), dtype=torch.bool, device=anchor.device)
        if labels is not None:
            labels = (labels[:, 0] if labels.dim() == 2 else labels).to(anchor.device).long()
            known = labels >= 0
            same = (labels[:, None] == labels[None, :]) & known[:, None] & known[None, :]
            same.fill_diagonal_(False)
        target = torch.arange(size, device=anchor.device)
        forward = cos_sim(anchor, torch.cat([positive, *negatives])) * self.scale
        mask = torch.zeros_like(forward, dtype=torch.bool)
        mask[:, :size] = same
        loss = nn.functional.cross_entropy(forward.masked_fill(mask, float("-inf")), target)
        if self.symmetric:
            backward = (cos_sim(positive, anchor) * self.scale).masked_fill(same, float("-inf"))
            loss = (loss + nn.functional.cross_entropy(backward, target)) / 2
        return loss

    def forward(self, sentence_features, labels=None) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)


def base_embeddings(model, features: dict[str, Tensor]) -> Tensor:
    """Embeddings of ``features`` by the base model: adapter switched off, dropout off, no gradient.

    Under DDP the trainer hands the loss the wrapped model; the base pass needs no gradient
    synchronisation, so it runs on the module inside."""
    model = getattr(model, "module", model)
    backbone = model[0].auto_model
    was_training = model.training
    model.eval()
    backbone.disable_adapters()
    try:
        with torch.no_grad():
            return model(dict(features))["sentence_embedding"]
    finally:
        backbone.enable_adapters()
        model.train(was_training)


class WeightedSumLoss(nn.Module):
    """``sum(weight * loss)`` over one batch, each column embedded once and shared by every loss.

    ``preserve_weight`` adds ``preserve_weight * mean(1 - cos(adapted anchor, base anchor))``: an
    anchor drifts from where the pretrained model put it only as far as the pairs pull it. It costs
    one forward pass of the anchor column without gradient. ``teacher_weight`` adds the same drift,
    averaged over every text of the replay rows (label column 2 set) and of the trailing
    ``teacher_columns`` (texts with no pair, e.g. everyday English): the base model is their teacher.
    (sentence-transformers' distillation losses need a second model or precomputed teacher
    embeddings; with an adapter the base model is the same weights with the adapter switched off.)
    """

    def __init__(
        self,
        model,
        parts: list[tuple[nn.Module, float]],
        preserve_weight: float = 0.0,
        teacher_weight: float = 0.0,
        teacher_columns: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.parts = nn.ModuleList(loss for loss, _ in parts)
        self.weights = [weight for _, weight in parts]
        self.preserve_weight = preserve_weight
        self.teacher_weight = teacher_weight
        self.teacher_columns = teacher_columns

    def forward(self, sentence_features, labels=None) -> Tensor:
        embeddings = embed_columns(self.model, sentence_features)
        # The last ``teacher_columns`` columns are texts only the teacher sees (no pair, no label).
        split = len(embeddings) - self.teacher_columns
        ranked, ranked_features = embeddings[:split], sentence_features[:split]
        total = sum(
            w * loss.compute_loss_from_embeddings(ranked, labels)
            for loss, w in zip(self.parts, self.weights, strict=True)
        )
        if self.preserve_weight:
            total = total + self.preserve_weight * self._drift(ranked[0], ranked_features[0]).mean()
        if self.teacher_weight and labels is not None and labels.dim() == 2 and labels.shape[1] > CACHED_FROM:
            total = total + self.teacher_weight * self._cached_drift(embeddings[split:], ranked, labels).mean()
        elif self.teacher_weight:
            adapted, features = list(embeddings[split:]), list(sentence_features[split:])
            kept: list[Tensor | None] = [None] * len(adapted)
            if labels is not None and labels.dim() == 2 and labels.shape[1] > 2:
                replay = labels[:, 2].to(ranked[0].device) > 0
                if replay.any():
                    rows = padded_rows(replay)
                    for e, f in zip(ranked, ranked_features, strict=True):
                        adapted.append(e[rows])
                        features.append(_rows(f, rows))
                        kept.append(replay[rows])
            if adapted:
                drifts = self._drifts(adapted, features)
                drifts = [d if k is None else d[k] for d, k in zip(drifts, kept, strict=True)]
                total = total + self.teacher_weight * torch.cat(drifts).mean()
        return total

    def _cached_drift(self, teacher: list[Tensor], ranked: list[Tensor], labels: Tensor) -> Tensor:
        """The teacher's drifts against base embeddings cached in the label column (see
        :func:`cardiolora.training.dataset.with_cached_teacher`): every teacher-only text, and every
        text of the replay rows. No base forward pass."""
        slots = [*teacher, *ranked]
        base = labels[:, CACHED_FROM:].reshape(len(labels), len(slots), -1).to(ranked[0].device)
        replay = labels[:, 2].to(ranked[0].device) > 0
        drifts = []
        for index, adapted in enumerate(slots):
            rows = slice(None) if index < len(teacher) else replay
            if index >= len(teacher) and not replay.any():
                continue
            target = base[rows, index].to(adapted.dtype)
            drifts.append(1 - nn.functional.cosine_similarity(adapted[rows], target, dim=-1))
        return torch.cat(drifts) if drifts else torch.zeros(1, device=ranked[0].device)

    def _drift(self, adapted: Tensor, features: dict[str, Tensor]) -> Tensor:
        """1 - cos(adapted embedding, the base model's embedding of the same texts), per text."""
        return self._drifts([adapted], [features])[0]

    def _drifts(self, adapted: list[Tensor], features: list[dict[str, Tensor]]) -> list[Tensor]:
        """:meth:`_drift` of several groups of texts, their base embeddings taken in one forward
        pass: on a CPU four small passes a step (the teacher texts, three columns of replay rows)
        cost far more than one pass over the same rows."""
        base = base_embeddings(self.model, concat_rows(features))
        drifts, start = [], 0
        for group in adapted:
            stop = start + len(group)
            drifts.append(1 - nn.functional.cosine_similarity(group, base[start:stop].to(group.dtype), dim=-1))
            start = stop
        return drifts


# Where a label row's cached base embeddings begin (after category id, target, replay flag).
CACHED_FROM = 3
# The teacher's pass over the replay rows of a batch runs on a multiple of this many rows.
ROW_BUCKET = 8


def padded_rows(mask: Tensor, bucket: int = ROW_BUCKET) -> Tensor:
    """Indices of the rows ``mask`` selects, followed by unselected rows up to a multiple of
    ``bucket`` (at most every row): the caller drops the extra rows' results.

    Why: the replay rows of a batch are a different number every step, and a CPU forward pass in
    bf16 builds (and caches) oneDNN kernels per input shape. Batches of 0 to 32 rows times every
    sequence length can overflow that cache and rebuild kernels all run long; rounded to multiples
    of 8 rows the shapes stay few, for a few extra rows. (Its share of the speed-up in
    benchmarks/train_speed.py was not measured apart.)
    """
    selected = mask.nonzero().squeeze(1)
    wanted = min(len(mask), -(-len(selected) // bucket) * bucket)
    filler = (~mask).nonzero().squeeze(1)[: wanted - len(selected)]
    return torch.cat([selected, filler])


_MODEL_OUTPUTS = {"token_embeddings", "sentence_embedding", "all_layer_embeddings"}


def concat_rows(features_list: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Tokenized batches of any sizes as one batch, token tensors right-padded with zeros to the
    widest (the padding has attention mask 0). sentence-transformers' ``merge_feature_batches``
    does the same for columns of one batch, but refuses batches of different sizes."""
    if len(features_list) == 1:
        return features_list[0]
    merged = {}
    # The adapted forward pass writes its outputs into the dicts it was given; only the inputs that
    # every batch has are merged.
    shared = set(features_list[0]).intersection(*features_list[1:]) - _MODEL_OUTPUTS
    for key, first in features_list[0].items():
        if key not in shared:
            continue
        values = [features[key] for features in features_list]
        if isinstance(first, Tensor) and first.dim() >= 1 and key != "prompt_length":
            if first.dim() == 2:
                width = max(value.shape[1] for value in values)
                values = [nn.functional.pad(value, (0, width - value.shape[1])) for value in values]
            merged[key] = torch.cat(values)
        else:
            merged[key] = first
    return merged


def _rows(features: dict[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    """The tokenized features of ``rows`` (indices or a boolean mask; other entries are passed as
    they are)."""
    size = len(features["input_ids"]) if "input_ids" in features else None
    return {
        k: v[rows.to(v.device)] if isinstance(v, Tensor) and v.dim() and v.shape[0] == size else v
        for k, v in features.items()
    }


def _with_terms(model, ranking: nn.Module, settings: LossSettings, *, cosine: bool, teacher_columns: int) -> nn.Module:
    """``ranking`` plus the cosine-target term (when ``cosine``), the preservation and the teacher
    terms, if weighted."""
    parts = [(ranking, 1.0)]
    if cosine and settings.cosine_weight:
        target = TargetCosineLoss(model, settings.positive_target, settings.negative_target, settings.cosine_term)
        parts.append((target, settings.cosine_weight))
    if len(parts) == 1 and not settings.preserve_weight and not settings.applied_teacher_weight:
        return ranking
    return WeightedSumLoss(
        model,
        parts,
        preserve_weight=settings.preserve_weight,
        teacher_weight=settings.applied_teacher_weight,
        teacher_columns=teacher_columns if settings.applied_teacher_weight else 0,
    )


@dataclass(frozen=True)
class BuildContext:
    """What a loss builder needs besides the model and the settings."""

    distributed: bool = False
    teacher_columns: int = 0

    def scale(self, settings: LossSettings) -> float:
        return 1.0 / settings.temperature

    def directions(self, settings: LossSettings) -> tuple[str, ...]:
        return ("query_to_doc", "doc_to_query") if settings.symmetric else ("query_to_doc",)


def _infonce(model, settings: LossSettings, context: BuildContext) -> nn.Module:
    if settings.mask_same_category:
        ranking = CategoryMaskedInfoNCELoss(model, scale=context.scale(settings), symmetric=settings.symmetric)
    else:
        ranking = losses.MultipleNegativesRankingLoss(
            model,
            scale=context.scale(settings),
            directions=context.directions(settings),
            gather_across_devices=context.distributed,
        )
    return _with_terms(
        model, ranking, settings, cosine=settings.name == "infonce+cosine", teacher_columns=context.teacher_columns
    )


def _cached_infonce(model, settings: LossSettings, context: BuildContext) -> nn.Module:
    return losses.CachedMultipleNegativesRankingLoss(
        model,
        scale=context.scale(settings),
        mini_batch_size=settings.mini_batch_size,
        directions=context.directions(settings),
        gather_across_devices=context.distributed,
    )


def _triplet(model, settings: LossSettings, context: BuildContext) -> nn.Module:
    triplet = losses.TripletLoss(model, triplet_margin=settings.triplet_margin)
    return _with_terms(
        model, triplet, settings, cosine=settings.name == "triplet+cosine", teacher_columns=context.teacher_columns
    )


@dataclass(frozen=True)
class LossSpec:
    """One objective: how it is built and what data it trains on.

    Attributes:
        build: ``(model, settings, context) -> nn.Module``.
        columns: the dataset columns it reads, in order (``negative`` optional for triplets).
        in_batch_negatives: it scores rows against the batch's other rows, so a batch must not
            repeat a text (sentence-transformers' no-duplicates batch sampler, length-grouped here).
        labels: what the dataset's label column carries for it.
    """

    build: Callable[..., nn.Module]
    columns: tuple[str, ...]
    in_batch_negatives: bool
    labels: str


_TRIPLETS = ("anchor", "positive", "negative")
_ROW_LABELS = "[category id, the row's positive cosine target, 1 if a replay row] (optional)"
_PAIRS = ("sentence1", "sentence2")
_SCORES = "the pair's target cosine (positive_target or negative_target)"

# The one table of objectives: ``LossSettings.name`` -> how it is built and what it trains on.
LOSSES: dict[str, LossSpec] = {
    "infonce": LossSpec(_infonce, _TRIPLETS, True, _ROW_LABELS),
    "infonce+cosine": LossSpec(_infonce, _TRIPLETS, True, _ROW_LABELS),
    "cached-infonce": LossSpec(_cached_infonce, _TRIPLETS, True, "none"),
    "triplet": LossSpec(_triplet, _TRIPLETS, False, _ROW_LABELS),
    "triplet+cosine": LossSpec(_triplet, _TRIPLETS, False, _ROW_LABELS),
    "cosine": LossSpec(lambda model, settings, context: losses.CosineSimilarityLoss(model), _PAIRS, False, _SCORES),
    "cosent": LossSpec(
        lambda model, settings, context: losses.CoSENTLoss(model, scale=context.scale(settings)), _PAIRS, False, _SCORES
    ),
    "angle": LossSpec(
        lambda model, settings, context: losses.AnglELoss(model, scale=context.scale(settings)), _PAIRS, False, _SCORES
    ),
}


def needs_labels(settings: LossSettings) -> bool:
    """Pair-label objectives train on (sentence1, sentence2, score) rows instead of triplets."""
    return LOSSES[settings.name].columns == _PAIRS


def uses_in_batch_negatives(settings: LossSettings) -> bool:
    return LOSSES[settings.name].in_batch_negatives


def build_loss(model, settings: LossSettings, *, distributed: bool = False, teacher_columns: int = 0) -> nn.Module:
    """The objective ``settings`` names (see :data:`LOSSES`). ``teacher_columns``: how many trailing
    dataset columns are teacher-only texts (see :class:`WeightedSumLoss`).

    Example::

        from cardiolora.training.config import LossSettings

        loss = build_loss(model, LossSettings(name="triplet+cosine", cosine_weight=3.0))
    """
    return LOSSES[settings.name].build(model, settings, BuildContext(distributed, teacher_columns))
