"""Large embedding jobs on an existing engine (Ray Data): inputs cut into shards up front, embedded
by an actor pool of :class:`~cardiolora.embedding.Embedder`, written as Parquet vector shards,
resumable. No HTTP, no index logic: an index builder reads the shards with :func:`iter_vector_shards`.

Ray is imported only when a job runs: reading shards needs pyarrow alone.
"""

from cardiolora._lazy import lazy_exports

_EXPORTS = {
    "embed_to_shards": "cardiolora.distributed.ray_job",
    "ShardJobResult": "cardiolora.distributed.ray_job",
    "ShardDone": "cardiolora.distributed.ray_job",
    "iter_vector_shards": "cardiolora.distributed.shards",
    "read_manifest": "cardiolora.distributed.shards",
    "is_shard_directory": "cardiolora.distributed.shards",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
