from __future__ import annotations

import numpy as np
import pytest

from cardiolora.evaluation import compute_metrics, evaluate_embedder, load_eval_set, pair_cosines


def _rows():
    rows = []
    for i in range(6):
        rows.append(
            {"sentence1": f"s{i} a", "sentence2": f"s{i} b", "category": "similar", "domain": "x" if i < 3 else "y"}
        )
        rows.append(
            {"sentence1": f"d{i} a", "sentence2": f"d{i} b", "category": "different", "domain": "x" if i < 3 else "y"}
        )
    for i in range(4):
        rows.append({"sentence1": f"finding {i}", "sentence2": f"paraphrase {i}", "category": "paraphrase"})
        rows.append({"sentence1": f"finding {i}", "sentence2": f"negated {i}", "category": "negation"})
    return rows


def test_metrics_from_known_cosines(write_jsonl):
    eval_set = load_eval_set(write_jsonl("set.jsonl", _rows()))
    cosines = []
    for pair in eval_set.pairs:
        index = (
            int(pair.sentence1.split()[0][-1]) if pair.category in ("similar", "different") else int(pair.sentence1[-1])
        )
        cosines.append(
            {
                "similar": 0.8 + 0.01 * index,
                "different": 0.3 + 0.01 * index,
                "paraphrase": 0.9,
                "negation": 0.95 if index == 0 else 0.5,
            }[pair.category]  # fmt: skip
        )
    result = compute_metrics(eval_set, np.array(cosines), n_resamples=1000)
    assert result["separation"] == pytest.approx(0.5)
    assert result["auc"] == 1.0
    assert result["negation_gap"] == pytest.approx(0.9 - (0.95 + 3 * 0.5) / 4)
    assert result["negation_accuracy"] == pytest.approx(0.75)
    assert result["n_negation_tests"] == 4
    assert result["categories"]["similar"]["n"] == 6
    assert result["domains"]["x"]["separation"] == pytest.approx(0.5)
    assert result["domains"]["y"]["n_similar"] == 3
    assert result["tier"] == "high"
    low, high = result["separation_ci"]
    assert low <= 0.5 <= high
    assert result["eval_set"]["sha256"] == eval_set.sha256


@pytest.mark.parametrize("model_name", ["minilm", "mpnet"])
def test_evaluation_matches_sentence_transformers_plus_numpy(model_name):
    """The whole pipeline agrees with an independent computation on the bundled set (1e-3)."""
    from sentence_transformers import SentenceTransformer

    from cardiolora.embedding import Embedder
    from cardiolora.models import get_model_spec, resolve_model

    if not get_model_spec(model_name).is_available():
        pytest.skip(f"{model_name} is not installed")
    embedder = Embedder.load(model_name)
    eval_set = load_eval_set("cardiology")
    result = evaluate_embedder(embedder, [eval_set], n_resamples=1000).to_dict()

    # Independent: plain sentence-transformers on the same weights, cosine by numpy.
    plain = SentenceTransformer(str(resolve_model(model_name).path), device="cpu")
    left = plain.encode([p.sentence1 for p in eval_set.pairs], convert_to_numpy=True)
    right = plain.encode([p.sentence2 for p in eval_set.pairs], convert_to_numpy=True)
    cosine = (left * right).sum(1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1))
    categories = np.array([p.category for p in eval_set.pairs])
    expected_sep = cosine[categories == "similar"].mean() - cosine[categories == "different"].mean()
    assert result["separation"] == pytest.approx(expected_sep, abs=1e-3)
    for category in ("similar", "different", "negation", "paraphrase"):
        assert result["categories"][category]["mean"] == pytest.approx(cosine[categories == category].mean(), abs=1e-3)
    np.testing.assert_allclose(pair_cosines(embedder, eval_set), cosine, atol=1e-3)
    assert set(result) >= {"separation", "separation_ci", "auc", "negation_gap", "negation_accuracy",
                           "categories", "domains", "model", "adapter", "eval_set", "versions"}  # fmt: skip
    assert result["versions"]["sentence-transformers"] != "not installed"


def test_a_real_decoder_evaluates_offline():
    """SmolLM2 (packaged GGUF) runs end to end with last-token pooling on the bundled set."""
    from cardiolora.embedding import Embedder
    from cardiolora.models import get_model_spec

    if not get_model_spec("smollm2-135m").is_available():
        pytest.skip("smollm2-135m is not installed")
    embedder = Embedder.load("smollm2-135m")
    assert embedder.model.tokenizer("mitral stenosis")["input_ids"][-1] == embedder.model.tokenizer.eos_token_id
    result = evaluate_embedder(embedder, [load_eval_set("cardiology")], n_resamples=500).to_dict()
    assert result["model"]["family"] == "decoder" and result["model"]["pooling"] == "lasttoken"
    assert -2 <= result["separation"] <= 2 and 0 <= result["auc"] <= 1


def test_truncation_curve_equals_evaluating_at_fewer_dimensions():
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation.evaluate import truncation_curve
    from cardiolora.evaluation.metrics import roc_auc, separation

    eval_set = load_eval_set("cardiology-dev")
    # A real model: a tiny random one scores every pair within 1e-7 of the others, where float32
    # rounding (renormalising twice) reorders pairs.
    embedder = Embedder.load("minilm")
    rows = truncation_curve(embedder, eval_set, dims=(64, 16, 10_000))
    assert [r["dims"] for r in rows] == [384, 64, 16]  # wider than the model: skipped
    categories = np.asarray([p.category for p in eval_set.pairs])
    for row in rows:
        embedder.truncate_dim = row["dims"]  # what `cardiolora evaluate --dims N` does
        cosines = pair_cosines(embedder, eval_set)
        similar, different = cosines[categories == "similar"], cosines[categories == "different"]
        assert row["auc"] == pytest.approx(roc_auc(similar, different), abs=1e-6)
        assert row["separation"] == pytest.approx(separation(similar, different), abs=1e-6)
    assert rows[0]["auc"] > rows[2]["auc"]  # sixteen dimensions lose some of minilm's meaning
