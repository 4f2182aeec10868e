"""Index types and their recipes: which FAISS index a corpus gets, with which parameters.

Types (all inner product over unit vectors, so a score is a cosine):

- ``flat``: exact search over float32 vectors (4 x dim bytes a vector).
- ``hnsw``: an HNSW graph over float32 vectors (M=32, efSearch 64): fast approximate search, more
  memory than flat (the graph adds ~256 bytes a vector), built in memory.
- ``ivf-flat``: an inverted file of ``nlist`` k-means cells holding float32 vectors; a query scans the
  ``nprobe`` nearest cells.
- ``ivf-pq``: the same cells holding product-quantized residuals (``pq_m`` codes of ``pq_nbits`` bits
  a vector, plus an 8-byte id in the inverted list): the type for corpora that outgrow memory. Its
  ``rerank`` best candidates by code (default :data:`RERANK_DEFAULT`) are re-scored by exact cosine
  from the float32 vectors, kept beside the index in ``vectors.f32`` on disk and memory-mapped: codes
  of a few bytes cannot order near-duplicates, the exact vectors can, and only the candidates' rows
  are read (``--rerank 0``: codes only, no vectors file).

Automatic choice by the number of vectors ``n`` (:func:`choose_index_type`): ``flat`` below
:data:`HNSW_FROM` (100,000: a brute-force query there costs a few milliseconds), ``hnsw`` below
:data:`IVF_PQ_FROM` (500,000: up to ~1 GB of vectors and graph at 384 dimensions), ``ivf-pq`` from there.

Defaults for IVF (:func:`plan_recipe`): ``nlist`` = 4 * sqrt(n), lowered so that every cell has at least
39 training vectors (FAISS's k-means minimum); a training sample of 40 * nlist vectors (at least
:data:`PQ_TRAIN_MIN`, at most :data:`TRAIN_MAX`, never more than n); ``pq_m`` = the largest divisor of
the dimension at most dim / 3 (128 codes of 3 dimensions for 384: 136 bytes a vector with its id, 1/11 of
float32); ``pq_nbits`` 8, or fewer where the sample is too small to train 256 centroids a sub-quantizer
(39 x 2^nbits vectors); ``nprobe`` = nlist / 16 (at least 1) searched by default.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from cardiolora.errors import CardioloraError

INDEX_TYPES = ("flat", "hnsw", "ivf-flat", "ivf-pq")
IVF_TYPES = ("ivf-flat", "ivf-pq")
HNSW_FROM = 100_000
IVF_PQ_FROM = 500_000
# k-means wants 39 points a centroid at least (FAISS warns below); 40 x nlist is the sample we train on.
MIN_POINTS_PER_CENTROID = 39
TRAIN_PER_LIST = 40
PQ_TRAIN_MIN = MIN_POINTS_PER_CENTROID * 256
TRAIN_MAX = 1_000_000  # 1.5 GB of float32 at 384 dimensions: the most a build holds for training
HNSW_M = 32
# PQ candidates re-scored exactly: enough to hold a query's true top-10 behind the codes' errors
# (benchmarks/index_scale.py, README "Large collections"), few enough to read per query from disk.
RERANK_DEFAULT = 100
HNSW_EF_SEARCH = 64
HNSW_EF_CONSTRUCTION = 40
# The count assumed when a chunked build is not told it and the input outlasts the training buffer.
UNKNOWN_LARGE_COUNT = 1_000_000


@dataclass(frozen=True)
class IndexRecipe:
    """What an index is made of; recorded in ``index.json`` under ``recipe``."""

    type: str
    dimension: int
    nlist: int | None = None
    pq_m: int | None = None
    pq_nbits: int | None = None
    train_size: int | None = None
    nprobe: int | None = None
    hnsw_m: int | None = None
    ef_search: int | None = None
    rerank: int | None = None
    seed: int = 0

    @property
    def factory(self) -> str:
        """The FAISS ``index_factory`` string."""
        if self.type == "flat":
            return "Flat"
        if self.type == "hnsw":
            return f"HNSW{self.hnsw_m},Flat"
        if self.type == "ivf-flat":
            return f"IVF{self.nlist},Flat"
        return f"IVF{self.nlist},PQ{self.pq_m}x{self.pq_nbits}"

    def bytes_per_vector(self) -> int:
        """Bytes a vector takes in the index, id included (graph and centroids not counted)."""
        if self.type == "ivf-pq":
            return math.ceil(self.pq_m * self.pq_nbits / 8) + 8
        if self.type == "ivf-flat":
            return 4 * self.dimension + 8
        return 4 * self.dimension

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "factory": self.factory}


def choose_index_type(count: int) -> str:
    """The type for ``count`` vectors: flat, then hnsw from :data:`HNSW_FROM`, ivf-pq from :data:`IVF_PQ_FROM`."""
    if count < HNSW_FROM:
        return "flat"
    return "hnsw" if count < IVF_PQ_FROM else "ivf-pq"


def default_pq_m(dimension: int) -> int:
    """The largest divisor of ``dimension`` at most dimension / 3: three dimensions a code keeps recall@10
    high for sentence embeddings while the codes stay near 1/12 of float32."""
    return max(m for m in range(1, dimension + 1) if dimension % m == 0 and m * 3 <= max(dimension, 3))


def _positive(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise CardioloraError(f"{name} must be a positive integer, got {value!r}")


def plan_recipe(
    count: int,
    dimension: int,
    index_type: str | None = None,
    *,
    nlist: int | None = None,
    pq_m: int | None = None,
    pq_nbits: int | None = None,
    nprobe: int | None = None,
    train_size: int | None = None,
    rerank: int | None = None,
    seed: int = 0,
) -> IndexRecipe:
    """The recipe for ``count`` vectors of ``dimension``: the given options, checked, and the module's
    defaults for the rest. Option errors name the CLI option (``--nlist``, ``--pq-m``...)."""
    chosen = ""
    if index_type is None:
        index_type = choose_index_type(count)
        chosen = f" (the type chosen for {count:,} vectors; pass --index-type)"
    if index_type not in INDEX_TYPES:
        raise CardioloraError(f"--index-type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
    for name, value in (("--nlist", nlist), ("--pq-m", pq_m), ("--pq-nbits", pq_nbits), ("--nprobe", nprobe)):
        _positive(name, value)
    _positive("training sample size", train_size)
    if rerank is not None and (isinstance(rerank, bool) or not isinstance(rerank, int) or rerank < 0):
        raise CardioloraError(f"--rerank must be a whole number >= 0, got {rerank!r}")
    ivf = index_type in IVF_TYPES
    for name, value, allowed in (
        ("--nlist", nlist, ivf),
        ("--nprobe", nprobe, ivf),
        ("--pq-m", pq_m, index_type == "ivf-pq"),
        ("--pq-nbits", pq_nbits, index_type == "ivf-pq"),
        ("--rerank", rerank or None, index_type == "ivf-pq"),
    ):
        if value is not None and not allowed:
            kinds = "ivf-flat and ivf-pq" if name in ("--nlist", "--nprobe") else "ivf-pq"
            raise CardioloraError(f"{name} applies to {kinds} indexes only, not to {index_type}{chosen}")
    if index_type == "flat":
        return IndexRecipe("flat", dimension, seed=seed)
    if index_type == "hnsw":
        return IndexRecipe("hnsw", dimension, hnsw_m=HNSW_M, ef_search=HNSW_EF_SEARCH, seed=seed)
    if count < 1:
        raise CardioloraError("an IVF index needs vectors to train on; the input is empty")
    if nlist is None:
        nlist = max(1, min(round(4 * math.sqrt(count)), count // MIN_POINTS_PER_CENTROID))
    if nlist > count:
        raise CardioloraError(f"--nlist {nlist} is more than the {count:,} vectors (each list needs a centroid)")
    if train_size is None:
        floor = PQ_TRAIN_MIN if index_type == "ivf-pq" else 0
        train_size = max(TRAIN_PER_LIST * nlist, floor)
    train_size = min(train_size, count, TRAIN_MAX)
    if train_size < nlist:
        raise CardioloraError(
            f"--nlist {nlist} needs at least {nlist:,} training vectors; the sample has {train_size:,}"
        )
    if nprobe is None:
        nprobe = max(1, nlist // 16)
    if nprobe > nlist:
        raise CardioloraError(f"--nprobe {nprobe} is more than --nlist {nlist}")
    if index_type == "ivf-flat":
        return IndexRecipe("ivf-flat", dimension, nlist=nlist, train_size=train_size, nprobe=nprobe, seed=seed)
    if pq_m is None:
        pq_m = default_pq_m(dimension)
    if dimension % pq_m:
        raise CardioloraError(f"--pq-m {pq_m} must divide the dimension {dimension}")
    if pq_nbits is None:
        # 8 bits where the sample trains 256 centroids a sub-quantizer, fewer (down to 4) where it cannot.
        pq_nbits = max(4, min(8, int(math.log2(max(train_size // MIN_POINTS_PER_CENTROID, 1)))))
    if pq_nbits > 16:
        raise CardioloraError(f"--pq-nbits must be at most 16, got {pq_nbits}")
    if train_size < 2**pq_nbits:
        raise CardioloraError(
            f"--pq-nbits {pq_nbits} needs at least {2**pq_nbits:,} training vectors; the sample has {train_size:,}"
        )
    return IndexRecipe(
        "ivf-pq",
        dimension,
        nlist=nlist,
        pq_m=pq_m,
        pq_nbits=pq_nbits,
        train_size=train_size,
        nprobe=nprobe,
        rerank=RERANK_DEFAULT if rerank is None else rerank,
        seed=seed,
    )


def make_faiss_index(recipe: IndexRecipe):
    """An empty FAISS index for ``recipe`` (untrained for IVF types), seeded k-means."""
    import faiss

    index = faiss.index_factory(recipe.dimension, recipe.factory, faiss.METRIC_INNER_PRODUCT)
    if recipe.type == "hnsw":
        index.hnsw.efSearch = recipe.ef_search
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    if recipe.type in IVF_TYPES:
        # index_factory returns the concrete class (IndexIVFPQ...): downcasting it again would not.
        index.cp.seed = recipe.seed
        index.nprobe = recipe.nprobe
        if recipe.type == "ivf-pq":
            index.pq.cp.seed = recipe.seed
            # index_factory turns polysemous training on: minutes of annealing for codes whose
            # Hamming filter is never used here (16x the training time on 5,000 vectors).
            index.do_polysemous_training = False
    return index


def check_nprobe(info: dict[str, Any], nprobe: int | None, where: str = "") -> int | None:
    """``nprobe`` checked against an index's recipe (``index.json``): a positive integer at most nlist,
    and only for IVF types (refused for flat and hnsw: they have no cells to probe). None: the default."""
    if nprobe is None:
        return None
    recipe = info.get("recipe") or {"type": info.get("kind", "flat")}
    if recipe["type"] not in IVF_TYPES:
        raise CardioloraError(
            f"--nprobe applies to ivf-flat and ivf-pq indexes only; {where}is a {recipe['type']} index"
        )
    _positive("--nprobe", nprobe)
    if nprobe > recipe["nlist"]:
        raise CardioloraError(f"--nprobe must be at most the index's nlist {recipe['nlist']}, got {nprobe}")
    return nprobe
