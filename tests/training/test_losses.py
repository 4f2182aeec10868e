from __future__ import annotations

import math

import pytest
import torch

from cardiolora.training.losses import CategoryMaskedInfoNCELoss


def _unit(rows):
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_category_mask_removes_same_category_negatives_only():
    anchor = _unit([[1, 0.5, 0.5], [0.5, 1, 0.5], [0.5, 0.5, 1]])
    positive = _unit([[1, 0.6, 0.5], [0.6, 1, 0.5], [0.5, 0.6, 1]])
    loss = CategoryMaskedInfoNCELoss(model=None, scale=2.0)
    plain = loss.compute_loss_from_embeddings([anchor, positive], None)
    # Every row in one category: only the row's own positive is left, so the loss is exactly 0.
    same = loss.compute_loss_from_embeddings([anchor, positive], torch.tensor([4, 4, 4]))
    assert plain.item() > 0
    assert same.item() == 0.0
    # Unknown categories (-1) never mask: the loss equals plain InfoNCE.
    unknown = loss.compute_loss_from_embeddings([anchor, positive], torch.tensor([-1, -1, -1]))
    assert math.isclose(unknown.item(), plain.item(), rel_tol=1e-6)
    # Rows 0 and 1 share a category: row 2 keeps both as negatives, so the loss lies in between.
    partial = loss.compute_loss_from_embeddings([anchor, positive], torch.tensor([1, 1, 2]))
    assert same.item() < partial.item() < plain.item()


def test_category_mask_keeps_hard_negatives_and_is_symmetric_when_asked():
    anchor = _unit([[1, 0], [0, 1]])
    positive = _unit([[1, 0.2], [0.2, 1]])
    negative = _unit([[0.9, 0.3], [0.3, 0.9]])
    loss = CategoryMaskedInfoNCELoss(model=None, scale=2.0)
    labels = torch.tensor([0, 0])
    with_negatives = loss.compute_loss_from_embeddings([anchor, positive, negative], labels)
    assert with_negatives.item() > 0  # the hard negatives still count
    symmetric = CategoryMaskedInfoNCELoss(model=None, scale=20.0, symmetric=True)
    assert symmetric.compute_loss_from_embeddings([anchor, positive], labels).item() == 0.0


def test_target_cosine_loss_takes_per_row_positive_targets():
    from cardiolora.training.losses import TargetCosineLoss

    anchor = _unit([[1, 0], [0, 1]])
    positive = _unit([[1, 0], [0.6, 0.8]])  # cosines 1.0 and 0.8
    loss = TargetCosineLoss(model=None, positive_target=0.8, negative_target=0.1)
    constant = loss.compute_loss_from_embeddings([anchor, positive], None)
    graded = loss.compute_loss_from_embeddings([anchor, positive], torch.tensor([[0.0, 1.0], [1.0, 0.8]]))
    assert constant.item() > 0.01
    assert graded.item() < 1e-10  # both rows sit exactly on their own targets


def test_training_with_relation_targets_and_category_mask(tiny_config, tiny_pairs, tmp_path):
    import json

    from cardiolora.training import train

    rows = [json.loads(line) for line in tiny_pairs.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["category"] = ["valvular", "pericardial"][i % 2]
        row["relation"] = ["sibling", "category"][i % 3 == 0]
    data = tmp_path / "graded.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tiny_config(data=str(data), loss={"relation_targets": {"category": 0.5}, "mask_same_category": True})
    result = train(config, log=lambda *_: None)
    assert (result.adapter_dir / "adapter_model.safetensors").exists()


def test_ranking_cosine_terms_order_pairs_without_an_absolute_level():
    from cardiolora.training.losses import TargetCosineLoss

    anchor = _unit([[1, 0], [0, 1]])
    positive = _unit([[0.6, 0.8], [0.8, 0.6]])  # cosines 0.6 and 0.6: below the 0.8 target
    negative = _unit([[0, 1], [1, 0]])  # cosines 0.0 and 0.0: below the 0.1 target
    loss = TargetCosineLoss(model=None, positive_target=0.8, negative_target=0.1, scoring="cosent")
    ordered = loss.compute_loss_from_embeddings([anchor, positive, negative]).item()
    swapped = loss.compute_loss_from_embeddings([anchor, negative, positive]).item()
    # Every positive out-scores every negative by 0.6: little loss, though no cosine is on target.
    assert ordered < 0.01 < swapped
    mse = TargetCosineLoss(model=None, positive_target=0.8, negative_target=0.1, scoring="mse")
    assert mse.compute_loss_from_embeddings([anchor, positive, negative]).item() > 0.02


def test_graded_targets_order_ranking_terms():
    from cardiolora.training.losses import TargetCosineLoss

    anchor = _unit([[1, 0], [0, 1]])
    positive = _unit([[0.9, 0.44], [0.6, 0.8]])  # cosines 0.9 (a synonym) and 0.8 (a category pair)
    negative = _unit([[0, 1], [1, 0]])
    loss = TargetCosineLoss(model=None, positive_target=0.8, negative_target=0.1, scoring="cosent")
    right = loss.compute_loss_from_embeddings([anchor, positive, negative], torch.tensor([[0.0, 0.8], [1.0, 0.5]]))
    wrong = loss.compute_loss_from_embeddings([anchor, positive, negative], torch.tensor([[0.0, 0.5], [1.0, 0.8]]))
    assert right.item() < wrong.item()  # the category pair (0.5) should score below the synonym (0.8)


@pytest.mark.parametrize(
    "loss", [{"cosine_term": "cosent", "cosine_weight": 1.0}, {"name": "triplet+cosine", "cosine_weight": 2.0}]
)
def test_training_with_a_combined_objective(tiny_config, tiny_pairs, loss):
    from cardiolora.training import train

    config = tiny_config(data=str(tiny_pairs), loss=loss)
    result = train(config, log=lambda *_: None)
    assert (result.adapter_dir / "adapter_model.safetensors").exists()
    assert result.metrics["training"]["global_step"] > 0


def test_triplet_plus_cosine_is_a_weighted_sum_of_both():
    from sentence_transformers.sentence_transformer import losses

    from cardiolora.training.config import LossSettings
    from cardiolora.training.losses import TargetCosineLoss, WeightedSumLoss, build_loss

    combined = build_loss(None, LossSettings(name="triplet+cosine", cosine_weight=3.0))
    assert isinstance(combined, WeightedSumLoss) and combined.weights == [1.0, 3.0]
    assert isinstance(combined.parts[0], losses.TripletLoss) and isinstance(combined.parts[1], TargetCosineLoss)
    assert isinstance(build_loss(None, LossSettings(name="triplet+cosine", cosine_weight=0.0)), losses.TripletLoss)
