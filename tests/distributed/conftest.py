"""A local Ray for the module (2 CPUs, no dashboard, a small object store) and a corpus of a few
thousand texts in JSONL, text and Parquet files, over the tiny test tokenizer's words."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

WORDS = ["mitral", "aortic", "tricuspid", "atrial", "ventricular", "pericardial", "coronary", "pulmonary", "valve",
         "stenosis", "regurgitation", "effusion", "chest", "pain", "the", "with"]  # fmt: skip


@pytest.fixture(scope="module")
def local_ray():
    """Ray started once per module, stopped after it; jobs in the module run on it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=96 * 2**20, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    yield ray
    ray.shutdown()


def clinical_texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(3, 12)))) for _ in range(count)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """3,000 texts: notes.jsonl (1,200, ids on every other row, a ward field, blank lines), lines.txt
    (800) and papers.parquet (1,000, ids and a year). Returns (directory, texts in the job's order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("corpus")
    texts = clinical_texts(3000)
    with open(root / "notes.jsonl", "w") as handle:
        for i, text in enumerate(texts[:1200]):
            row = {"text": text, "ward": f"w{i % 4}"} | ({"id": f"note-{i}"} if i % 2 else {})
            handle.write(json.dumps(row) + "\n" + ("\n" if i % 97 == 0 else ""))
    (root / "lines.txt").write_text("".join(t + "\n" for t in texts[1200:2000]))
    table = pa.table({"text": texts[2000:], "id": [f"paper-{i}" for i in range(1000)], "year": list(range(1000))})
    pq.write_table(table, root / "papers.parquet", row_group_size=300)
    return root, texts[1200:2000] + texts[:1200] + texts[2000:]  # the files in path order
