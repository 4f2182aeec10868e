"""Embed large inputs into vector shards with Ray Data.

The pipeline: the planned shards (:mod:`cardiolora.distributed.plan`) that have no file yet become
the read tasks of a Ray Data datasource, one block per shard; ``Dataset.map_batches`` hands each
block whole (``batch_size=None``) to an actor pool of :class:`~cardiolora.embedding.Embedder`
holders (``concurrency=workers``, each with ``cpus_per_worker`` CPUs or ``gpus_per_worker`` GPUs),
which embed it and write its Parquet shard atomically; the driver collects one small summary row per
shard for progress and the manifest. Reading and embedding overlap: read tasks take no CPU
reservation (they are light), so the actors can hold every core.

Without ``ray_address`` a local Ray is started in this process and stopped at the end; with one
(``auto``, ``ray://host:10001`` or ``host:6379``) the job joins that cluster, whose nodes must see the
input files and the output directory at the same paths (a shared file system).

The driver holds the output directory's lock for the whole job, so a second job into the same
directory is refused, and ``embed.json`` records the plan before anything runs: a job killed at any
point, run again with the same arguments, embeds only the shards that have no file, and every input
row ends up exactly once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardiolora.distributed.plan import Fields, InputFile, Shard, expand_inputs, plan_shards, read_shard_rows
from cardiolora.distributed.shards import MANIFEST, SHARDS_SCHEMA, is_shard_directory, write_shard
from cardiolora.errors import CardioloraError
from cardiolora.io import read_json_object, write_json_atomic

DEFAULT_ROWS_PER_SHARD = 10_000
ROLES = ("similarity", "query", "passage", "none")
# Settings that decide the vectors: a directory holding shards made with other values is not resumed.
IDENTITY_KEYS = ("model", "model_source", "adapter", "adapter_sha256", "adapter_scale", "precision", "role",
                 "max_seq_length", "truncate_dim", "text_field", "id_field", "rows_per_shard")  # fmt: skip


@dataclass
class ShardDone:
    """What a worker reports for one written shard."""

    name: str
    rows: int
    span: int  # lines (or Parquet rows) the shard covered, blank lines included
    seconds: float
    peak_rss_bytes: int
    worker: str


@dataclass
class ShardJobResult:
    out: Path
    rows: int  # rows in all shards
    shards: int
    shards_written: int  # by this run (the rest existed)
    dimension: int | None
    seconds: float
    rows_embedded: int  # by this run
    workers: dict[str, int] = field(default_factory=dict)  # worker -> peak RSS bytes

    @property
    def rows_per_second(self) -> float:
        return self.rows_embedded / self.seconds if self.seconds > 0 else 0.0


def job_settings(
    model: str | None,
    adapter: str | Path | None,
    *,
    adapter_scale: float,
    precision: str,
    role: str,
    max_seq_length: int | None,
    truncate_dim: int | None,
    fields: Fields,
    rows_per_shard: int,
) -> dict[str, Any]:
    """The settings that decide a job's vectors, checked on the driver without loading weights: an
    unknown model or a bad adapter fails here, before Ray starts."""
    from cardiolora.embedding import check_adapter_dir
    from cardiolora.embedding.embedder import PRECISIONS
    from cardiolora.io import sha256_file
    from cardiolora.models import resolve_model
    from cardiolora.models.adapters import model_for_adapter

    if precision not in PRECISIONS:
        raise CardioloraError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if role not in ROLES:
        raise CardioloraError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    adapter_path = check_adapter_dir(adapter).resolve() if adapter is not None else None
    if adapter_scale != 1.0 and adapter_path is None:
        raise CardioloraError("an adapter scale needs an adapter")
    resolved = resolve_model(model_for_adapter(model, adapter_path))
    # A model given as a directory is reloaded from it (absolute, for workers on any directory).
    name = str(resolved.path.resolve()) if Path(str(model_for_adapter(model, adapter_path))).exists() else None
    return {
        "model": name or resolved.spec.name,
        "model_source": resolved.source.describe(),
        "adapter": str(adapter_path) if adapter_path else None,
        "adapter_sha256": sha256_file(adapter_path / "adapter_model.safetensors") if adapter_path else None,
        "adapter_scale": adapter_scale,
        "precision": precision,
        "role": role,
        "max_seq_length": max_seq_length,
        "truncate_dim": truncate_dim,
        "text_field": fields.text,
        "id_field": fields.id,
        "rows_per_shard": rows_per_shard,
    }


# ------------------------------------------------------------------------------------ in the workers


def _read_block(source: InputFile, shard: Shard, fields: Fields):
    """A read task: the shard's rows as one Arrow block, with its name and row count beside each row
    so the embedding actor can tell a whole shard from a part of one."""
    import pyarrow as pa

    from cardiolora.distributed.shards import rows_table

    texts, ids, columns = read_shard_rows(source, shard, fields)
    if not texts:  # a block of no rows might never reach the actor; one placeholder row says "empty"
        table = pa.table({"id": pa.array([None], pa.string()), "text": pa.array([None], pa.string())})
    else:
        table = rows_table(ids, texts, columns)
    count = len(texts)
    table = table.append_column("_shard", pa.array([shard.name] * table.num_rows, pa.string()))
    table = table.append_column("_rows", pa.array([count] * table.num_rows, pa.int64()))
    table = table.append_column("_span", pa.array([shard.span] * table.num_rows, pa.int64()))
    return [table]


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class ShardEmbedder:
    """An actor of the pool: loads the embedder once, then embeds and writes one shard per call."""

    def __init__(
        self, settings: dict[str, Any], out: str, batch_size: int, threads: int | None, trust_remote_code: bool = False
    ) -> None:
        from cardiolora.embedding import Embedder
        from cardiolora.logs import quiet_libraries

        if threads:
            import torch

            # Ray sets OMP_NUM_THREADS per worker, but torch may have read it before; say it again.
            torch.set_num_threads(threads)
        quiet_libraries()
        self.settings = settings
        self.out = Path(out)
        self.embedder = Embedder.load(
            settings["model"],
            adapter=settings["adapter"],
            trust_remote_code=trust_remote_code,
            max_seq_length=settings["max_seq_length"],
            batch_size=batch_size,
            precision=settings["precision"],
            adapter_scale=settings["adapter_scale"],
        )
        if settings.get("truncate_dim"):
            self.embedder.truncate_dim = settings["truncate_dim"]
        self.role = None if settings["role"] == "none" else settings["role"]
        import socket

        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, block):
        import pyarrow as pa

        from cardiolora.distributed.shards import add_vectors

        started = time.perf_counter()
        names = set(block.column("_shard").to_pylist())
        name = block.column("_shard")[0].as_py()
        rows = block.column("_rows")[0].as_py()
        span = block.column("_span")[0].as_py()
        table = block.drop_columns(["_shard", "_rows", "_span"])
        if rows == 0:
            table = table.slice(0, 0)
        if len(names) != 1 or table.num_rows != rows:
            # Ray Data split or merged blocks: writing this would lose or double rows.
            raise RuntimeError(f"shard {name} arrived as {table.num_rows} of its {rows} rows (with {sorted(names)})")
        vectors = self.embedder.encode(table.column("text").to_pylist(), role=self.role) if rows else None
        write_shard(self.out / name, add_vectors(table, vectors, self.embedder.dimension))
        return pa.table(
            {
                "name": [name],
                "rows": [rows],
                "span": [span],
                "seconds": [time.perf_counter() - started],
                "peak_rss_bytes": [_peak_rss_bytes()],
                "worker": [self.worker],
                "dimension": [self.embedder.dimension],
                "embedder": [json.dumps(self.embedder.describe(), default=str)],
            }
        )


def _datasource(inputs: list[InputFile], shards: list[Shard], fields: Fields):
    import functools

    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class ShardSource(Datasource):
        """One read task per planned shard: the plan, not Ray, decides the blocks."""

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            return [
                ReadTask(
                    functools.partial(_read_block, inputs[shard.input], shard, fields),
                    BlockMetadata(
                        num_rows=None, size_bytes=None, exec_stats=None, input_files=(inputs[shard.input].path,)
                    ),  # fmt: skip
                )
                for shard in shards
            ]

    return ShardSource()


# ---------------------------------------------------------------------------------------- the driver


def _cause(exc: BaseException) -> CardioloraError | None:
    """The user's error inside what Ray raised: a task error carries the worker's exception as
    ``cause`` (its own text is the worker's traceback), and Ray Data may wrap that again."""
    from ray.exceptions import RayTaskError

    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, RayTaskError):
            stack.append(current.cause)
            continue
        if isinstance(current, CardioloraError):
            # Ray Data appends its retry advice to the message after a line break.
            return CardioloraError(str(current).split("\nFailed to ")[0])
        stack.extend([current.__cause__, current.__context__])
    return None


@contextlib.contextmanager
def ray_session(address: str | None, *, num_cpus: int | None = None, object_store_memory: int | None = None):
    """Ray for the job: the running one if this process has it (a test's, an application's), else
    ``address``'s cluster, else a local one started here; whatever was started here is stopped."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    env = {key: os.environ[key] for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME") if key in os.environ}
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,  # worker tracebacks would bury the one-line error; they stay in Ray's logs
        # Ray's own notices (token set-up, "Started a local Ray instance") are not the user's business.
        "logging_level": logging.ERROR,
        "runtime_env": {"env_vars": env} if env else None,
    }
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = num_cpus
        kwargs["object_store_memory"] = object_store_memory
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise CardioloraError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_ray_data() -> None:
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False  # the driver shows rows/s and time left itself
    context.print_on_execution_start = False
    # A shard's block must reach the actor whole; a limit far above any shard keeps Ray from splitting it.
    context.target_max_block_size = 1 << 40


@contextlib.contextmanager
def _ray_data_silent():
    """Ray Data logs a failed task's traceback, twice, on the console; the job reports the user's
    error in one line instead (the tracebacks stay in Ray's session logs)."""
    logger = logging.getLogger("ray.data")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def prepare_out(out: Path, settings: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """The existing manifest of ``out`` (``{}`` if none), refused when its shards were made with other
    settings (unless ``overwrite``, which removes them); ``out`` must be empty or a shard directory."""
    from cardiolora.directories import refuse_foreign_directory

    if out.exists() and not out.is_dir():
        raise CardioloraError(f"--out {out} exists and is not a directory")
    refuse_foreign_directory(out, is_shard_directory, "directory of vector shards")
    old = read_json_object(out / MANIFEST) if out.exists() else {}
    if not old:
        return {}
    differs = [key for key in IDENTITY_KEYS if old.get("settings", {}).get(key) != settings[key]]
    if differs and not overwrite:
        raise CardioloraError(
            f"{out} holds shards embedded with other settings ({', '.join(differs)} differ); use another --out "
            "directory, or --overwrite to discard them"
        )
    if differs:
        for path in out.glob("part-*.parquet"):
            path.unlink()
        return {}
    return old


def embed_to_shards(
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    model: str | None = None,
    adapter: str | Path | None = None,
    adapter_scale: float = 1.0,
    precision: str = "fp32",
    role: str = "similarity",
    max_seq_length: int | None = None,
    truncate_dim: int | None = None,
    batch_size: int = 32,
    text_field: str = "text",
    id_field: str = "id",
    rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    workers: int = 2,
    cpus_per_worker: float | None = None,
    gpus_per_worker: float = 0.0,
    ray_address: str | None = None,
    overwrite: bool = False,
    trust_remote_code: bool = False,
    on_plan: Callable[[int, int, int], None] | None = None,
    on_shard: Callable[[ShardDone], None] | None = None,
) -> ShardJobResult:
    """Embed every text of ``inputs`` (files, directories or globs of JSONL, text or Parquet files)
    into Parquet vector shards in the directory ``out``, on Ray; resumable (see the module's doc).

    ``cpus_per_worker`` defaults to this machine's cores shared by the workers for a local Ray, and
    to 1 on a cluster. ``on_plan(shards, pending_shards, pending_rows)`` is called once the plan is
    known, ``on_shard`` for each shard written."""
    from cardiolora.directories import lock_directory
    from cardiolora.versions import package_versions

    if workers < 1:
        raise CardioloraError("--workers must be >= 1")
    if batch_size < 1:
        raise CardioloraError("batch size must be >= 1")
    fields = Fields(text_field, id_field)
    out = Path(os.path.abspath(out))
    files = expand_inputs(inputs)
    settings = job_settings(model, adapter, adapter_scale=adapter_scale, precision=precision, role=role,
                            max_seq_length=max_seq_length, truncate_dim=truncate_dim, fields=fields,
                            rows_per_shard=rows_per_shard)  # fmt: skip
    if cpus_per_worker is None:
        cpus_per_worker = 1.0 if ray_address else max(1.0, float((os.cpu_count() or 1) // workers))
    with lock_directory(out, what="shard directory"):
        old = prepare_out(out, settings, overwrite)
        input_files, shards = plan_shards(files, settings, rows_per_shard)
        if not shards:
            raise CardioloraError("no texts: every input file is empty")
        out.mkdir(parents=True, exist_ok=True)
        planned = {shard.name for shard in shards}
        # Shards of inputs that changed since, and temporaries of a killed run: no longer anyone's.
        for path in [*out.glob("part-*.parquet"), *out.glob(".part-*.tmp")]:
            if path.name not in planned:
                path.unlink()
        done_rows: dict[str, int] = {
            name: rows for name, rows in (old.get("rows_per_shard_written") or {}).items() if name in planned
        }
        pending = [shard for shard in shards if not (out / shard.name).is_file()]
        for shard in shards:  # a shard file whose row count the last run did not get to record
            if shard.name not in done_rows and (out / shard.name).is_file():
                import pyarrow.parquet as pq

                done_rows[shard.name] = pq.ParquetFile(out / shard.name).metadata.num_rows
        manifest: dict[str, Any] = {
            "schema": SHARDS_SCHEMA,
            "status": "running",
            "settings": settings,
            "batch_size": batch_size,
            "inputs": [entry.__dict__ for entry in input_files],
            "shards": [shard.to_dict() for shard in shards],
            "rows_per_shard_written": done_rows,
            "dimension": old.get("dimension"),
            "embedder": old.get("embedder"),
            "engine": {
                "name": "ray",
                "address": ray_address or "local",
                "workers": workers,
                "cpus_per_worker": cpus_per_worker,
                "gpus_per_worker": gpus_per_worker,
            },  # fmt: skip
            "versions": package_versions(("ray", "pyarrow")),
        }
        write_json_atomic(out / MANIFEST, manifest)
        pending_span = sum(shard.span for shard in pending)
        if on_plan is not None:
            on_plan(len(shards), len(pending), pending_span)
        started = time.perf_counter()
        peaks: dict[str, int] = {}
        embedded = 0
        if pending:
            embedded = _run(pending, input_files, fields, settings, out, manifest, peaks, on_shard,
                            batch_size=batch_size, workers=workers, cpus=cpus_per_worker, gpus=gpus_per_worker,
                            address=ray_address, trust_remote_code=trust_remote_code)  # fmt: skip
        seconds = time.perf_counter() - started
        missing = [shard.name for shard in shards if not (out / shard.name).is_file()]
        if missing:  # a bug, not the user's: every pending shard's task reported success
            raise RuntimeError(f"{len(missing)} shards were not written, e.g. {missing[0]}")
        manifest["status"] = "complete"
        manifest["count"] = sum(manifest["rows_per_shard_written"].values())
        manifest["last_run"] = {"seconds": round(seconds, 3), "rows_embedded": embedded,
                                "shards_written": len(pending), "peak_rss_bytes": peaks}  # fmt: skip
        write_json_atomic(out / MANIFEST, manifest)
    return ShardJobResult(out, manifest["count"], len(shards), len(pending), manifest["dimension"], seconds,
                          embedded, peaks)  # fmt: skip


def _run(pending, input_files, fields, settings, out, manifest, peaks, on_shard, *, batch_size, workers, cpus, gpus,
         address, trust_remote_code) -> int:  # fmt: skip
    """Run the pending shards through Ray Data; returns the rows embedded."""
    # Workers on this machine read the same offline switches; a cluster's get them from runtime_env.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    embedded = 0
    last_saved = time.monotonic()
    with ray_session(address, num_cpus=None) as ray:
        import ray.data
        from ray.data import ActorPoolStrategy

        _quiet_ray_data()
        threads = max(1, int(cpus)) if not gpus else None
        with warnings.catch_warnings():
            # Ray 2.60 warns about `ray_remote_args` even when only its named parameters are given.
            warnings.simplefilter("ignore", DeprecationWarning)
            dataset = ray.data.read_datasource(
                _datasource(input_files, pending, fields),
                override_num_blocks=len(pending),
                # Light work beside the actors, which hold the cores; a few at a time bound the memory.
                num_cpus=0,
                concurrency=max(2, workers * 2),
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # max_restarts, a plain Ray remote argument
            dataset = dataset.map_batches(
                ShardEmbedder,
                fn_constructor_kwargs={
                    "settings": settings,
                    "out": str(out),
                    "batch_size": batch_size,
                    "threads": threads,
                    "trust_remote_code": trust_remote_code,
                },  # fmt: skip
                batch_size=None,  # a whole block, which is a whole shard
                batch_format="pyarrow",
                # At most two shards queued per actor: the last shards do not wait behind a busy one.
                compute=ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=2),
                num_cpus=cpus,
                num_gpus=gpus or None,
                # A local job is rerun, not healed: restarting actors on the one machine would not help, and
                # Ray warns at length about restartable actors whose arguments live in the object store.
                **({} if address else {"max_restarts": 0}),
            )
        with _ray_data_silent():
            # Closed on any exit, so that an interrupted job stops its actors before the caller goes on.
            summaries = iter(dataset.iter_rows())
            try:
                for summary in summaries:
                    done = ShardDone(summary["name"], summary["rows"], summary["span"], summary["seconds"],
                                     summary["peak_rss_bytes"], summary["worker"])  # fmt: skip
                    embedded += done.rows
                    peaks[done.worker] = max(peaks.get(done.worker, 0), done.peak_rss_bytes)
                    manifest["rows_per_shard_written"][done.name] = done.rows
                    if manifest.get("dimension") is None:
                        manifest["dimension"] = summary["dimension"]
                        manifest["embedder"] = json.loads(summary["embedder"])
                    if time.monotonic() - last_saved > 30:  # a killed job's rerun needs no more than a file listing
                        write_json_atomic(out / MANIFEST, manifest)
                        last_saved = time.monotonic()
                    if on_shard is not None:
                        on_shard(done)
            except Exception as exc:
                cause = _cause(exc)
                write_json_atomic(out / MANIFEST, manifest)
                if cause is not None:
                    raise cause from None
                raise
            finally:
                close = getattr(summaries, "close", None)
                if close is not None:
                    close()
    return embedded
