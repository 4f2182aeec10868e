"""Single-adapter batches on merged copies: the same vectors as the offline Embedder (fp32 to 1e-4 in
cosine, bf16 to 1e-2), within the memory budget, dropped when the adapter is unloaded."""

from __future__ import annotations

import numpy as np
import pytest

from cardiolora.embedding import Embedder
from cardiolora.serve import AdapterPool

TEXTS = ["mitral valve stenosis", "acute pericarditis", "atrial flutter with block", "aortic dissection"] * 4
# Cosine between a served vector and the offline fp32 one, at least: merged fp32 differs from the
# unmerged adapter only in float rounding; bf16 autocast rounds every matrix product to 8 bits of mantissa.
FP32_TOLERANCE = 1e-4
BF16_TOLERANCE = 1e-2


def offline(model_dir, adapter) -> np.ndarray:
    return Embedder.load(str(model_dir), adapter=adapter).encode(TEXTS)


@pytest.fixture
def merged_pool(tiny_model_dir, two_adapters):
    root, adapters = two_adapters
    return AdapterPool.load(str(tiny_model_dir("bert")), adapters, adapter_root=root, merged_cache_mb=100)


def test_a_single_adapter_batch_runs_merged_and_equals_the_offline_embedder(merged_pool, tiny_model_dir, two_adapters):
    from peft.tuners.lora import LoraLayer

    _, adapters = two_adapters
    for name in ("alpha", "beta"):
        served = merged_pool.encode(TEXTS, name)
        assert (served * offline(tiny_model_dir("bert"), adapters[name])).sum(1).min() >= 1 - FP32_TOLERANCE
    assert merged_pool.merged_names == ["alpha", "beta"]
    # A merged copy is a plain model; the shared model keeps both adapters unmerged.
    merged_model = merged_pool._merged["alpha"].model
    assert not any(isinstance(m, LoraLayer) for m in merged_model.modules())
    shared = [m for m in merged_pool.model.modules() if isinstance(m, LoraLayer)]
    assert shared and not any(m.merged for m in shared)
    base = merged_pool.encode(TEXTS, merged_pool.base_name)
    assert (base * Embedder.load(str(tiny_model_dir("bert"))).encode(TEXTS)).sum(1).min() >= 1 - FP32_TOLERANCE


def test_mixed_batches_and_merged_batches_agree(merged_pool):
    names = ["alpha", "beta", merged_pool.base_name, "alpha"] * 4
    mixed = merged_pool.encode_mixed(TEXTS, names)
    for name in set(names):
        index = [i for i, n in enumerate(names) if n == name]
        alone = merged_pool.encode([TEXTS[i] for i in index], name)
        assert (mixed[index] * alone).sum(1).min() >= 1 - FP32_TOLERANCE, name


def test_the_budget_keeps_the_most_recently_used_adapters(tiny_model_dir, two_adapters):
    root, adapters = two_adapters
    probe = AdapterPool.load(str(tiny_model_dir("bert")), adapters, adapter_root=root)
    one_copy_mb = probe._weight_bytes() / 1e6
    pool = AdapterPool.load(str(tiny_model_dir("bert")), adapters, adapter_root=root, merged_cache_mb=one_copy_mb * 1.5)
    pool.encode(TEXTS, "alpha")
    pool.encode(TEXTS, "beta")
    # Room for one: beta, used once, runs unmerged rather than evict alpha's copy at once.
    assert pool.merged_names == ["alpha"]
    for _ in range(16):  # beta earns the copy: used far more than alpha lately
        pool.encode(TEXTS[:2], "beta")
    assert pool.merged_names == ["beta"]
    unmerged = AdapterPool.load(str(tiny_model_dir("bert")), adapters, adapter_root=root, merged_cache_mb=0)
    assert (pool.encode(TEXTS, "alpha") * unmerged.encode(TEXTS, "alpha")).sum(1).min() >= 1 - FP32_TOLERANCE
    assert unmerged.merged_names == []
    tight = AdapterPool.load(str(tiny_model_dir("bert")), adapters, adapter_root=root, merged_cache_mb=one_copy_mb / 2)
    tight.encode(TEXTS, "alpha")
    assert tight.merged_names == []  # a copy that does not fit is never built


def test_unloading_drops_the_merged_copy_and_a_reload_is_merged_afresh(merged_pool, two_adapters, tiny_model_dir):
    _, adapters = two_adapters
    merged_pool.encode(TEXTS, "alpha")
    merged_pool.remove("alpha")
    assert merged_pool.merged_names == []
    # Another adapter under the old name: its own weights, not the old merged copy's.
    merged_pool.add("alpha", "run-beta/adapter")
    served = merged_pool.encode(TEXTS, "alpha")
    assert (served * offline(tiny_model_dir("bert"), adapters["beta"])).sum(1).min() >= 1 - FP32_TOLERANCE


def test_bf16_serving_stays_within_its_tolerance(tiny_model_dir, two_adapters):
    from cardiolora.embedding.embedder import bf16_supported

    if not bf16_supported("cpu"):
        pytest.skip("this CPU has no native bf16")
    root, adapters = two_adapters
    pool = AdapterPool.load(
        str(tiny_model_dir("bert")), adapters, adapter_root=root, precision="auto", merged_cache_mb=100
    )
    assert pool.embedder.precision == "bf16"
    served = pool.encode(TEXTS, "alpha")
    assert (served * offline(tiny_model_dir("bert"), adapters["alpha"])).sum(1).min() >= 1 - BF16_TOLERANCE


def test_rotating_over_more_adapters_than_fit_does_not_copy_the_model_every_batch(
    tiny_model_dir, two_adapters, monkeypatch
):
    """Requests alternating between two adapters with room for one copy: before the admission rule
    every batch evicted the other's copy and deep-copied the model on the encoding thread."""
    from cardiolora.serve import pool as pool_module

    root, adapters = two_adapters
    probe = AdapterPool.load(str(tiny_model_dir("bert")), adapters, adapter_root=root)
    pool = AdapterPool.load(
        str(tiny_model_dir("bert")), adapters, adapter_root=root, merged_cache_mb=probe._weight_bytes() / 1e6 * 1.5
    )
    copies = []
    real = pool_module.merged_copy
    monkeypatch.setattr(pool_module, "merged_copy", lambda model, name: copies.append(name) or real(model, name))
    expected = {name: offline(tiny_model_dir("bert"), adapters[name]) for name in ("alpha", "beta")}
    for step in range(40):
        name = ("alpha", "beta")[step % 2]
        served = pool.encode(TEXTS, name)
        assert (served * expected[name]).sum(1).min() >= 1 - FP32_TOLERANCE  # merged or not, the same vectors
    assert len(copies) <= 2, copies
    # What /metrics reports (cardiolora_merged_copy_events): each batch a hit, a switch or a miss, each
    # copy built. Alternating models never run on a copy: switching weights costs more than it saves.
    stats = pool.merge_stats
    assert stats["hit"] + stats["switch"] + stats["miss"] == 40 and stats["built"] == len(copies)
    assert stats["hit"] == 0 and stats["switch"] >= 19
    for _ in range(3):  # a run of one model does
        pool.encode(TEXTS[:2], "alpha")
    assert pool.merge_stats["hit"] == 2


def test_metrics_report_the_merged_copies(merged_pool):
    from fastapi.testclient import TestClient

    from cardiolora.serve import create_app

    with TestClient(create_app(merged_pool)) as client:
        for name in ("alpha", "alpha", "beta"):
            assert client.post("/v1/embeddings", json={"model": name, "input": TEXTS[:2]}).status_code == 200
        text = client.get("/metrics").text
    events = {
        line.split('"')[1]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("cardiolora_merged_copy_events{")
    }
    assert events == {"hit": 1.0, "switch": 0.0, "miss": 2.0, "built": 2.0}
