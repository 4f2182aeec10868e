"""The Ray engine on a local Ray with 2 workers: the single-process path's vectors, resume after an
interrupted job with every row exactly once, and bad input named by file and line with no partial shard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.distributed import embed_to_shards, iter_vector_shards, read_manifest

ROWS_PER_SHARD = 100  # 31 shards: a job stopped after 3 still has shards in flight and unwritten


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return str(tiny_model_dir("bert"))


@pytest.fixture(scope="module")
def reference(model, corpus):
    """The single-process path's vectors of the corpus, in the job's order."""
    from cardiolora.embedding import Embedder

    return Embedder.load(model).encode(corpus[1])


@pytest.fixture(scope="module")
def job(local_ray, model, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("job") / "shards"
    result = embed_to_shards([corpus[0]], out, model=model, workers=2, rows_per_shard=ROWS_PER_SHARD)
    return out, result


def read_all(out):
    records, vectors = [], []
    for shard_records, shard_vectors in iter_vector_shards(out):
        records += shard_records
        vectors.append(shard_vectors)
    return records, np.concatenate(vectors)


def test_ray_vectors_equal_the_single_process_paths(job, model, corpus, reference):
    out, result = job
    records, vectors = read_all(out)
    assert result.rows == len(records) == len(corpus[1]) == 3000
    assert [r["text"] for r in records] == corpus[1]  # every row once, in input order
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    assert float((vectors * reference).sum(axis=1).min()) >= 0.9999
    by_id = {r["id"]: r for r in records}
    assert len(by_id) == 3000
    assert by_id["note-1"]["ward"] == "w1" and "notes.jsonl:1" in by_id  # given ids kept, else FILE:LINE
    assert by_id["lines.txt:800"]["text"] == corpus[1][799]
    assert by_id["paper-7"]["year"] == 7
    manifest = read_manifest(out)
    assert manifest["status"] == "complete" and manifest["count"] == 3000
    assert manifest["settings"]["model"] == str(Path(model).resolve()) and manifest["dimension"] == 32
    assert len({w for w in result.workers}) == 2, result.workers  # both actors of the pool embedded


def test_lost_shards_and_a_killed_writers_temporary_are_redone_exactly_once(job, model, corpus, reference, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(job[0], out)
    manifest = read_manifest(out)
    manifest["status"] = "running"  # as a killed job leaves it
    (out / "embed.json").write_text(json.dumps(manifest))
    names = [shard["name"] for shard in manifest["shards"]]
    for name in (names[1], names[-1]):
        (out / name).unlink()
    (out / f".{names[1]}.x1y2z3.tmp").write_bytes(b"PAR1 half a shard")  # a writer killed mid-write

    result = embed_to_shards([corpus[0]], out, model=model, workers=2, rows_per_shard=ROWS_PER_SHARD)
    assert result.shards_written == 2
    records, vectors = read_all(out)
    assert [r["text"] for r in records] == corpus[1] and len({r["id"] for r in records}) == 3000
    assert float((vectors * reference).sum(axis=1).min()) >= 0.9999
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_an_interrupted_job_run_again_writes_every_row_exactly_once(local_ray, job, model, corpus, reference,
                                                                    tmp_path):  # fmt: skip
    out = tmp_path / "shards"
    seen = []

    class Killed(Exception):
        pass

    def kill_after_three(done):
        seen.append(done.name)
        if len(seen) == 3:
            raise Killed

    with pytest.raises(Killed):
        embed_to_shards([corpus[0]], out, model=model, workers=2, rows_per_shard=ROWS_PER_SHARD,
                        on_shard=kill_after_three)  # fmt: skip
    assert read_manifest(out)["status"] == "running"
    with pytest.raises(Exception, match="has not finished"):
        next(iter_vector_shards(out))
    written = sorted(p.name for p in out.glob("part-*.parquet"))
    assert 3 <= len(written) < len(read_manifest(out)["shards"])
    # What a kill -9 leaves as well: a shard's temporary file; and a shard lost since.
    (out / f".{written[0]}.abc123.tmp").write_bytes(b"PAR1 half a shard")
    (out / written[-1]).unlink()

    result = embed_to_shards([corpus[0]], out, model=model, workers=2, rows_per_shard=ROWS_PER_SHARD)
    assert result.shards_written == result.shards - len(written) + 1
    records, vectors = read_all(out)
    assert [r["text"] for r in records] == corpus[1]
    assert len({r["id"] for r in records}) == 3000
    assert float((vectors * reference).sum(axis=1).min()) >= 0.9999
    assert not list(out.glob(".*.tmp"))
    # The same shards as a job that was never interrupted, name for name.
    assert sorted(p.name for p in out.glob("part-*")) == sorted(p.name for p in job[0].glob("part-*"))


def test_a_finished_job_run_again_embeds_nothing_and_other_settings_are_refused(job, model, corpus, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(job[0], out)
    result = embed_to_shards([corpus[0]], out, model=model, rows_per_shard=ROWS_PER_SHARD)
    assert result.shards_written == 0 and result.rows == 3000  # no Ray needed: nothing was pending
    with pytest.raises(Exception, match="other settings.*role"):
        embed_to_shards([corpus[0]], out, model=model, rows_per_shard=ROWS_PER_SHARD, role="passage")


def test_bad_input_fails_naming_file_and_line_with_no_partial_shard(local_ray, model, corpus, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(corpus[0] / "notes.jsonl", inputs / "a.jsonl")
    rows = [json.dumps({"text": f"mitral valve {i}"}) for i in range(10)]
    rows[6] = json.dumps({"body": "no text field here"})
    (inputs / "b.jsonl").write_text("\n".join(rows) + "\n")
    out = tmp_path / "shards"
    result = CliRunner().invoke(app, ["embed", "--engine", "ray", "--input", str(inputs), "--out", str(out),
                                      "--model", model, "--rows-per-shard", str(ROWS_PER_SHARD)])  # fmt: skip
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"{inputs / 'b.jsonl'}:7" in message and "'text'" in message, message
    manifest = read_manifest(out)
    b_shards = [s["name"] for s in manifest["shards"] if manifest["inputs"][s["input"]]["name"] == "b.jsonl"]
    assert b_shards and not any((out / name).exists() for name in b_shards)
    assert not list(out.glob(".*.tmp"))
    for path in out.glob("part-*.parquet"):  # what was written is whole: a.jsonl's shards
        import pyarrow.parquet as pq

        assert pq.ParquetFile(path).metadata.num_rows > 0


def test_index_build_on_ray_fills_the_index_from_the_shards(local_ray, model, corpus, reference, tmp_path):
    from cardiolora.index import SearchIndex

    out = tmp_path / "index"
    args = ["index", "build", "--engine", "ray", "--corpus", str(corpus[0]), "--out", str(out), "--model", model,
            "--index-type", "flat"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"indexed {len(corpus[1]):,} texts (flat" in result.output
    assert read_manifest(tmp_path / "index.shards")["status"] == "complete"  # the shards, beside the index
    opened = SearchIndex.open(out)
    hits = opened.search([corpus[1][5]], k=3)[0]
    assert any(row["text"] == corpus[1][5] for _, row in hits) and hits[0][0] > 0.999
    # A second build into a finished index is refused (nothing of it replaced) until --overwrite.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    replaced = CliRunner().invoke(app, [*args, "--overwrite", "--index-type", "ivf-flat", "--check-recall", "50"])
    assert replaced.exit_code == 0, replaced.output
    assert (
        "recall@10" in replaced.output and json.loads((out / "index.json").read_text())["recipe"]["type"] == "ivf-flat"
    )


@pytest.mark.slow
def test_a_job_killed_with_sigkill_run_again_writes_every_row_exactly_once(model, corpus, reference, tmp_path):
    """A real `kill -9` of `cardiolora embed --engine ray` (its whole process group, Ray included)
    once a few shards are written; the same command again finishes with every row exactly once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "shards"
    command = [sys.executable, "-m", "cardiolora", "embed", "--engine", "ray", "--model", model, "--workers", "2",
               "--rows-per-shard", "100", "--input", str(corpus[0]), "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(list(out.glob("part-*.parquet"))) < 3:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no shard was written in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = len(list(out.glob("part-*.parquet")))
    assert read_manifest(out)["status"] == "running" and written < len(read_manifest(out)["shards"])
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    records, vectors = read_all(out)
    assert [r["text"] for r in records] == corpus[1]
    assert len({r["id"] for r in records}) == len(records) == 3000
    assert float((vectors * reference).sum(axis=1).min()) >= 0.9999
    assert not list(out.glob(".*.tmp"))
