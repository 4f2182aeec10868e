from __future__ import annotations

import pytest

from cardiolora.errors import CardioloraError
from cardiolora.index.recipe import HNSW_FROM, IVF_PQ_FROM, check_nprobe, choose_index_type, plan_recipe


def test_the_type_follows_the_corpus_size():
    assert choose_index_type(HNSW_FROM - 1) == "flat"
    assert choose_index_type(HNSW_FROM) == "hnsw"
    assert choose_index_type(IVF_PQ_FROM - 1) == "hnsw"
    assert choose_index_type(IVF_PQ_FROM) == "ivf-pq"


def test_ivf_pq_defaults_for_a_million_384_dimensional_vectors():
    recipe = plan_recipe(1_000_000, 384)
    assert (recipe.type, recipe.nlist, recipe.pq_m, recipe.pq_nbits) == ("ivf-pq", 4000, 128, 8)
    assert recipe.train_size == 160_000 and recipe.nprobe == 250
    assert recipe.factory == "IVF4000,PQ128x8"
    # The budget: at most 1/8 of the float32 vectors (ids included).
    assert recipe.bytes_per_vector() <= 384 * 4 / 8


def test_small_corpora_get_fewer_lists_and_bits():
    recipe = plan_recipe(3000, 64, "ivf-pq")
    assert recipe.nlist == 3000 // 39 and recipe.train_size == 3000 and recipe.pq_nbits == 6
    assert recipe.pq_m == 16 and 64 % recipe.pq_m == 0


@pytest.mark.parametrize(
    ("index_type", "options", "named"),
    [
        ("flat", {"nlist": 4}, "--nlist"),
        ("hnsw", {"nprobe": 4}, "--nprobe"),
        ("ivf-flat", {"pq_m": 4}, "--pq-m"),
        ("ivf-pq", {"pq_m": 7}, "--pq-m"),
        ("ivf-pq", {"pq_nbits": 0}, "--pq-nbits"),
        ("ivf-pq", {"pq_nbits": 17}, "--pq-nbits"),
        ("ivf-pq", {"nlist": 5000}, "--nlist"),
        ("ivf-flat", {"nlist": 10, "nprobe": 11}, "--nprobe"),
        ("ivf-flat", {"nlist": True}, "--nlist"),
        ("ivf-flat", {"rerank": 50}, "--rerank"),
        ("ivf-pq", {"rerank": -1}, "--rerank"),
        ("annoy", {}, "--index-type"),
    ],
)
def test_bad_options_name_the_option(index_type, options, named):
    with pytest.raises(CardioloraError, match=named):
        plan_recipe(3000, 64, index_type, **options)


def test_nprobe_is_refused_for_flat_and_bounded_by_nlist():
    assert check_nprobe({"recipe": {"type": "ivf-pq", "nlist": 8}}, 8) == 8
    with pytest.raises(CardioloraError, match="at most the index's nlist 8"):
        check_nprobe({"recipe": {"type": "ivf-pq", "nlist": 8}}, 9)
    with pytest.raises(CardioloraError, match="flat index"):
        check_nprobe({"kind": "flat"}, 1)  # an index from before recipes were recorded
