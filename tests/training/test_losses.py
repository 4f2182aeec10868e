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
    """The options reach the labels and change what is learned: same seed, same data, same initial
    adapter (set_seed), different weights at the end only because of them."""
    import json

    from safetensors.torch import load_file

    from cardiolora.data import load_pairs
    from cardiolora.training import train
    from cardiolora.training.dataset import build_dataset

    rows = [json.loads(line) for line in tiny_pairs.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["category"] = ["valvular", "pericardial"][i % 2]
        row["relation"] = ["sibling", "category"][i % 3 == 0]
    data = tmp_path / "graded.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = {"relation_targets": {"category": 0.5}, "mask_same_category": True, "teacher_weight": 0.0}
    graded = tiny_config(data=str(data), out=str(tmp_path / "graded"), loss=options)

    labels = build_dataset(load_pairs(data), graded)["label"]
    pairs = load_pairs(data)
    assert [label[0] for label in labels] == [
        float(sorted({"valvular", "pericardial"}).index(p.category)) for p in pairs
    ]
    assert [label[1] for label in labels] == [0.5 if p.relation == "category" else 0.8 for p in pairs]

    plain = tiny_config(
        data=str(data), out=str(tmp_path / "plain"), loss={"relation_targets": {}, "teacher_weight": 0.0}
    )
    weights = [
        load_file(train(config, log=lambda *_: None).adapter_dir / "adapter_model.safetensors")
        for config in (graded, plain)
    ]
    assert weights[0].keys() == weights[1].keys()
    assert any(not torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


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
    assert isinstance(
        build_loss(None, LossSettings(name="triplet+cosine", cosine_weight=0.0, teacher_weight=0.0)), losses.TripletLoss
    )


def _tiny_adapted_model(model_dir):
    from peft import LoraConfig
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.add_adapter(LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"]))
    return model


def test_preservation_term_is_zero_at_the_base_and_grows_with_drift(tiny_model_dir):
    from cardiolora.training.losses import WeightedSumLoss

    model = _tiny_adapted_model(tiny_model_dir("bert"))
    features = [model.preprocess(["mitral valve stenosis", "aortic effusion"]) for _ in range(3)]
    zero = torch.nn.Module()
    zero.compute_loss_from_embeddings = lambda embeddings, labels: embeddings[0].sum() * 0
    loss = WeightedSumLoss(model, [(zero, 1.0)], preserve_weight=1.0)
    model.eval()  # no dropout in the adapted pass either
    assert loss(features).item() == pytest.approx(0.0, abs=1e-5)  # LoRA's B starts at zero: adapted == base
    assert not model.training
    model.train()
    lora = [p for name, p in model.named_parameters() if "lora_B" in name]
    with torch.no_grad():
        for p in lora:
            p.normal_(0, 0.5)
    drifted = loss(features)
    assert drifted.item() > 1e-3
    drifted.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora)
    assert model.training  # the base pass switched dropout off and back on


def test_preservation_keeps_a_trained_model_nearer_its_base(tiny_config):
    from cardiolora.embedding import Embedder
    from cardiolora.training import train

    texts = ["mitral valve stenosis", "pericardial effusion with chest pain", "the coronary valve regurgitation 3"]
    drift = {}
    for weight in (0.0, 50.0):
        config = tiny_config(out=str(tiny_config().out) + f"-{weight}", max_steps=8, learning_rate=5e-3,
                             loss={"preserve_weight": weight})  # fmt: skip
        result = train(config, evaluate_zero_shot=False, log=lambda *_: None)
        base = Embedder.load(config.model).encode(texts)
        adapted = Embedder.load(config.model, adapter=result.adapter_dir).encode(texts)
        drift[weight] = float((1 - (base * adapted).sum(axis=1)).mean())
    assert drift[50.0] < drift[0.0]


def test_preservation_needs_a_triplet_loss():
    from pydantic import ValidationError

    from cardiolora.training.config import LossSettings

    with pytest.raises(ValidationError, match="preserve_weight"):
        LossSettings(name="cached-infonce", preserve_weight=1.0, teacher_weight=0.0)
    assert LossSettings(name="triplet", preserve_weight=1.0).preserve_weight == 1.0


def test_gradcache_refuses_to_drop_the_teacher_silently():
    from pydantic import ValidationError

    from cardiolora.training.config import LossSettings

    # The default teacher weight would be dropped by GradCache without a word: refused, naming the way out.
    with pytest.raises(ValidationError, match="teacher-weight 0"):
        LossSettings(name="cached-infonce")
    assert LossSettings(name="cached-infonce", teacher_weight=0.0).applied_teacher_weight == 0.0


def test_the_teacher_term_covers_only_replay_rows(tiny_model_dir):
    from cardiolora.training.losses import WeightedSumLoss

    model = _tiny_adapted_model(tiny_model_dir("bert"))
    texts = ["mitral valve stenosis", "aortic effusion", "seizure with aura", "gout flare"]
    features = [model.preprocess(texts) for _ in range(3)]
    zero = torch.nn.Module()
    zero.compute_loss_from_embeddings = lambda embeddings, labels: embeddings[0].sum() * 0
    loss = WeightedSumLoss(model, [(zero, 1.0)], teacher_weight=1.0)
    model.eval()
    lora = [p for name, p in model.named_parameters() if "lora_B" in name]
    with torch.no_grad():
        for p in lora:
            p.normal_(0, 0.5)
    no_replay = torch.tensor([[-1.0, 0.8, 0.0]] * 4)
    assert loss(features, no_replay).item() == 0.0  # no replay row: nothing to keep in place
    replay = torch.tensor([[-1.0, 0.8, 0.0], [-1.0, 0.8, 0.0], [-1.0, 0.8, 1.0], [-1.0, 0.8, 1.0]])
    drifted = loss(features, replay)
    # The term is the mean drift of the replay rows' texts, computed here by hand.
    from cardiolora.training.losses import base_embeddings

    adapted = model(dict(features[0]))["sentence_embedding"][2:]
    base = base_embeddings(model, features[0])[2:]
    expected = (1 - torch.nn.functional.cosine_similarity(adapted, base, dim=-1)).mean()
    assert drifted.item() == pytest.approx(expected.item(), rel=1e-4) and drifted.item() > 1e-3
    drifted.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora)


def test_cached_teacher_targets_give_the_same_term_without_a_base_pass(tiny_model_dir, monkeypatch):
    """The base model's embeddings, computed once and carried in the label column, stand in for the
    per-step base pass: the same loss, and no base forward at all."""
    import numpy as np

    from cardiolora.training import losses
    from cardiolora.training.dataset import with_cached_teacher

    model = _tiny_adapted_model(tiny_model_dir("bert"))
    texts = {"anchor": ["mitral valve stenosis", "aortic effusion", "seizure with aura", "gout flare"],
             "positive": ["valve narrowing", "fluid by the aorta", "fits", "crystal arthritis"],
             "negative": ["atrial flutter", "renal cyst", "migraine", "lupus"],
             "teacher": ["the cat sat", "a red bus", "rain again today", "coffee please"]}  # fmt: skip
    labels = [[-1.0, 0.8, 0.0], [-1.0, 0.8, 1.0], [-1.0, 0.8, 0.0], [-1.0, 0.8, 1.0]]
    model.eval()
    with torch.no_grad():
        for p in (p for name, p in model.named_parameters() if "lora_B" in name):
            p.normal_(0, 0.5)
        model[0].auto_model.disable_adapters()
        base = lambda batch: model.encode(batch, convert_to_numpy=True)  # noqa: E731
        cached = with_cached_teacher({**texts, "label": labels}, base)
        model[0].auto_model.enable_adapters()
    d = model.get_embedding_dimension()
    assert cached.shape == (4, 3 + 4 * d)
    # Every row's teacher text has its target; only the replay rows (1 and 3) their texts' targets.
    assert np.all(np.abs(cached[:, 3 : 3 + d]).sum(axis=1) > 0) and np.all(cached[[0, 2], 3 + d :] == 0)
    assert np.all(np.abs(cached[[1, 3], 3 + d :]).sum(axis=1) > 0)
    features = [model.preprocess(texts[name]) for name in ("anchor", "positive", "negative", "teacher")]
    zero = torch.nn.Module()
    zero.compute_loss_from_embeddings = lambda embeddings, labels: embeddings[0].sum() * 0
    loss = losses.WeightedSumLoss(model, [(zero, 1.0)], teacher_weight=1.0, teacher_columns=1)
    reference = loss(features, torch.tensor(labels)).item()
    monkeypatch.setattr(losses, "base_embeddings", lambda *a, **k: pytest.fail("a base pass ran"))
    assert loss(features, torch.tensor(cached)).item() == pytest.approx(reference, rel=1e-4, abs=1e-6)
    assert reference > 1e-3


def test_the_teacher_keeps_replay_texts_nearer_the_base(tiny_config, tmp_path):
    import json

    from cardiolora.embedding import Embedder
    from cardiolora.training import train

    words = ["mitral", "aortic", "atrial", "coronary", "renal", "hepatic", "thyroid", "cerebral"]
    rows = []
    for i, word in enumerate(words * 6):
        replay = word in ("renal", "hepatic", "thyroid", "cerebral")
        rows.append({"anchor": f"{word} valve stenosis {i}", "positive": f"the {word} valve regurgitation {i}",
                     "negative": f"{words[(i + 3) % 8]} effusion",
                     "branch": "nervous" if replay else "cardiovascular"})  # fmt: skip
    data = tmp_path / "replay.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = [r["anchor"] for r in rows if r["branch"] == "nervous"][:6]
    drift = {}
    for weight in (0.0, 50.0):
        config = tiny_config(data=str(data), out=str(tmp_path / f"run-{weight}"), max_steps=8, learning_rate=5e-3,
                             loss={"teacher_weight": weight})  # fmt: skip
        result = train(config, evaluate_zero_shot=False, log=lambda *_: None)
        base = Embedder.load(config.model).encode(texts)
        adapted = Embedder.load(config.model, adapter=result.adapter_dir).encode(texts)
        drift[weight] = float((1 - (base * adapted).sum(axis=1)).mean())
    assert drift[50.0] < drift[0.0] / 2


def test_replay_rows_are_marked_in_the_labels(tiny_config, tmp_path):
    from cardiolora.data.records import PairRecord
    from cardiolora.training.dataset import build_dataset as _dataset

    pairs = [PairRecord("a", "b", "c", branch="cardiovascular"), PairRecord("d", "e", "f", branch="renal"),
             PairRecord("g", "h", "i")]  # fmt: skip
    config = tiny_config(loss={"teacher_weight": 1.0})
    assert [row[2] for row in _dataset(pairs, config)["label"]] == [0.0, 1.0, 0.0]
    config = tiny_config(loss={"teacher_weight": 1.0}, target_branch=None)
    assert [row[2] for row in _dataset(pairs, config)["label"]] == [0.0, 0.0, 0.0]
    config = tiny_config(loss={"teacher_weight": 1.0, "teacher_replay": False})
    assert [row[2] for row in _dataset(pairs, config)["label"]] == [0.0, 0.0, 0.0]


def test_the_default_teacher_applies_to_triplet_losses_only():
    from pydantic import ValidationError

    from cardiolora.training.config import LossSettings

    assert LossSettings().applied_teacher_weight == LossSettings.model_fields["teacher_weight"].default > 0
    assert LossSettings(name="cosine").applied_teacher_weight == 0.0  # the default is not an error there
    with pytest.raises(ValidationError, match="teacher_weight"):
        LossSettings(name="cosine", teacher_weight=1.0)


def test_teacher_only_columns_are_kept_out_of_the_ranking(tiny_model_dir):
    from cardiolora.training.losses import WeightedSumLoss, base_embeddings

    model = _tiny_adapted_model(tiny_model_dir("bert"))
    features = [model.preprocess(["mitral valve stenosis", "aortic effusion"]) for _ in range(3)]
    features.append(model.preprocess(["the train was late again", "she sold her old car"]))
    seen = []
    probe = torch.nn.Module()
    probe.compute_loss_from_embeddings = lambda embeddings, labels: (
        seen.append(len(embeddings)) or embeddings[0].sum() * 0
    )
    loss = WeightedSumLoss(model, [(probe, 1.0)], teacher_weight=1.0, teacher_columns=1)
    model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    value = loss(features, None)
    assert seen == [3]  # the ranking parts never see the teacher column
    adapted = model(dict(features[3]))["sentence_embedding"]
    expected = (1 - torch.nn.functional.cosine_similarity(adapted, base_embeddings(model, features[3]), dim=-1)).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-4) and value.item() > 1e-3


def test_the_dataset_carries_general_teacher_texts(tiny_config, tmp_path):
    from cardiolora.data.records import PairRecord
    from cardiolora.errors import CardioloraError
    from cardiolora.training.dataset import TEACHER_COLUMN
    from cardiolora.training.dataset import build_dataset as _dataset
    from cardiolora.training.prepare import prepare

    pairs = [PairRecord(f"a{i}", f"b{i}", f"c{i}") for i in range(5)]
    texts = tmp_path / "texts.txt"
    texts.write_text("\ufeffthe train was late\n\nshe sold her car\n")
    dataset = _dataset(pairs, tiny_config(teacher_texts=str(texts)))
    assert dataset.column_names[:4] == ["anchor", "positive", "negative", TEACHER_COLUMN]
    assert set(dataset[TEACHER_COLUMN]) == {"the train was late", "she sold her car"}
    assert TEACHER_COLUMN not in _dataset(pairs, tiny_config(teacher_texts=None)).column_names
    assert (
        TEACHER_COLUMN
        not in _dataset(pairs, tiny_config(teacher_texts=str(texts), loss={"teacher_weight": 0.0})).column_names
    )
    config = tiny_config(teacher_texts=str(tmp_path / "missing.txt"))
    with pytest.raises(CardioloraError, match="missing.txt"):
        prepare(config)
    assert not config.out.exists()


def test_the_bundled_general_english_texts():
    from cardiolora.data.general import general_english_texts
    from cardiolora.data.leakage import bundled_guard

    texts = general_english_texts()
    assert len(texts) > 5000 and len(set(texts)) == len(texts)
    assert all(25 <= len(t) <= 200 for t in texts)
    guard = bundled_guard()
    assert not any(guard.leaks(t) for t in texts[:500])


def test_the_loss_table_covers_every_configurable_loss():
    import typing

    from cardiolora.training.config import TRIPLET_LOSSES, LossName
    from cardiolora.training.losses import LOSSES

    assert set(LOSSES) == set(typing.get_args(LossName))
    assert {name for name, spec in LOSSES.items() if spec.columns[0] == "anchor" and spec.labels != "none"} == set(
        TRIPLET_LOSSES
    )


def test_padded_rows_keeps_the_selected_rows_first_and_rounds_to_the_bucket():
    from cardiolora.training.losses import padded_rows

    mask = torch.tensor([False, True, False, False, True, False, False, False, False, True])
    rows = padded_rows(mask, bucket=4)
    assert rows[:3].tolist() == [1, 4, 9]
    assert len(rows) == 4 and not mask[rows[3]]  # one unselected row fills the bucket
    assert len(set(rows.tolist())) == len(rows)
    assert len(padded_rows(torch.ones(5, dtype=torch.bool), bucket=4)) == 5  # never more rows than there are
    assert padded_rows(torch.zeros(3, dtype=torch.bool), bucket=4).tolist() == []


def test_concat_rows_pads_token_tensors_and_keeps_the_embeddings(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    from cardiolora.training.losses import concat_rows

    model = SentenceTransformer(str(tiny_model_dir("bert")), device="cpu").eval()
    short = model.tokenize(["mitral stenosis", "angina"])
    long = model.tokenize(["a long sentence about the heart failing after a myocardial infarction"])
    merged = concat_rows([short, long])
    assert merged["input_ids"].shape[0] == 3
    assert merged["input_ids"].shape[1] == max(short["input_ids"].shape[1], long["input_ids"].shape[1])
    with torch.no_grad():
        together = model(merged)["sentence_embedding"]
        apart = torch.cat([model(dict(short))["sentence_embedding"], model(dict(long))["sentence_embedding"]])
    assert torch.allclose(together, apart, atol=1e-5)
