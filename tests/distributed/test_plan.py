"""The shard plan and the shard readers, without Ray: every row in exactly one shard, in order,
whatever the chunking; errors name file and line; only a finished job's shards are read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cardiolora.distributed import plan as plan_module
from cardiolora.distributed.plan import Fields, expand_inputs, plan_shards, read_shard_rows
from cardiolora.errors import CardioloraError, InputError


def all_rows(path, rows_per_shard, fields=None):
    fields = fields or Fields()
    inputs, shards = plan_shards([path], {"k": 1}, rows_per_shard)
    texts, ids = [], []
    for shard in shards:
        t, i, _ = read_shard_rows(inputs[shard.input], shard, fields)
        texts += t
        ids += i
    return texts, ids, shards


@pytest.mark.parametrize("rows_per_shard", [1, 2, 3, 7, 100])
@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_every_line_lands_in_one_shard_whatever_the_scan_chunk(tmp_path, monkeypatch, rows_per_shard, ending):
    monkeypatch.setattr(plan_module, "_SCAN_CHUNK", 5)  # newlines split across many chunks
    lines = [f"text number {i}" if i % 4 else "" for i in range(1, 24)]
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(line + ending.rstrip("\n") for line in lines) + ending).encode())
    texts, ids, shards = all_rows(path, rows_per_shard)
    expected = [(n, line) for n, line in enumerate(lines, 1) if line]
    assert texts == [line for _, line in expected]
    assert ids == [f"x.txt:{n}" for n, _ in expected]
    assert sum(shard.span for shard in shards) == len(lines)


def test_shard_names_follow_the_settings_and_the_files(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(10)))
    names = [s.name for s in plan_shards([path], {"k": 1}, 4)[1]]
    assert names == [s.name for s in plan_shards([path], {"k": 1}, 4)[1]]  # stable
    assert names[0].startswith("part-00000-") and len(names) == 3
    assert not set(names) & {s.name for s in plan_shards([path], {"k": 2}, 4)[1]}
    path.write_text(path.read_text() + json.dumps({"text": "one more"}) + "\n")
    assert not set(names) & {s.name for s in plan_shards([path], {"k": 1}, 4)[1]}


def test_parquet_row_ranges_and_metadata(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(25)], "n": list(range(25))}), path, row_group_size=4)
    inputs, shards = plan_shards([path], {}, 7)
    got = [read_shard_rows(inputs[0], s, Fields()) for s in shards]
    assert [t for texts, _, _ in got for t in texts] == [f"t{i}" for i in range(25)]
    assert [n for _, _, columns in got for n in columns["n"]] == list(range(25))
    assert got[1][1][0] == "p.parquet:7"


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ('{"text": "ok"', ["bad.jsonl:3", "malformed JSON"]),
        ('{"body": "no text"}', ["bad.jsonl:3", "'text'", "missing"]),
        ('{"text": "  "}', ["bad.jsonl:3", "empty"]),
        ('{"text": "ok", "vector": [1]}', ["bad.jsonl:3", "'vector'"]),
    ],
)
def test_bad_jsonl_rows_are_named_by_file_and_line(tmp_path, line, fragments):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n\n' + line + "\n")
    with pytest.raises(InputError) as error:
        all_rows(path, 10)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_parquet_without_the_text_column_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    with pytest.raises(InputError, match="p.parquet.*no text column 'text'"):
        all_rows(path, 10)


def test_inputs_from_directories_and_globs(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/b.txt", "d/e/a.jsonl", "d/notes.md", "c.txt"):
        (tmp_path / name).write_text("x\n")
    assert expand_inputs([tmp_path / "d"]) == [tmp_path / "d/b.txt", tmp_path / "d/e/a.jsonl"]
    assert expand_inputs([str(tmp_path / "*.txt"), tmp_path / "c.txt"]) == [tmp_path / "c.txt"]
    with pytest.raises(InputError, match="unsupported input format '.md'"):
        expand_inputs([tmp_path / "d/notes.md"])
    with pytest.raises(CardioloraError, match="matches no"):
        expand_inputs([str(tmp_path / "*.parquet")])


def test_only_a_finished_jobs_listed_shards_are_read(tmp_path):
    from cardiolora.distributed import iter_vector_shards
    from cardiolora.distributed.shards import MANIFEST, SHARDS_SCHEMA, add_vectors, rows_table, write_shard

    table = add_vectors(rows_table(["a", "b"], ["x", "y"], {"k": [1, "two"]}), np.eye(2, 3, dtype=np.float32), 3)
    write_shard(tmp_path / "part-00000-aa.parquet", table)
    write_shard(tmp_path / "part-00009-stray.parquet", table)
    manifest = {"schema": SHARDS_SCHEMA, "status": "running", "shards": [{"name": "part-00000-aa.parquet"}],
                "rows_per_shard_written": {"part-00000-aa.parquet": 2}}  # fmt: skip
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CardioloraError, match="has not finished"):
        list(iter_vector_shards(tmp_path))
    (tmp_path / MANIFEST).write_text(json.dumps({**manifest, "status": "complete"}))
    [(records, vectors)] = list(iter_vector_shards(tmp_path))
    assert records == [{"id": "a", "text": "x", "k": "1"}, {"id": "b", "text": "y", "k": '"two"'}]
    assert vectors.dtype == np.float32 and vectors.tolist() == [[1, 0, 0], [0, 1, 0]]
