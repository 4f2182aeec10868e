"""The README's Python example, run as written (with a small data file in place of the recommended one)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_api_example() -> str:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_python_api_example_runs(tmp_path, monkeypatch, minilm):
    data = tmp_path / "data" / "cardio-recommended.jsonl"
    data.parent.mkdir()
    rows = [{"anchor": f"{a} {i}", "positive": f"{b} {i}", "negative": f"{c} {i}"}
            for i, (a, b, c) in enumerate([("mitral stenosis", "aortic stenosis", "pericarditis"),
                                           ("atrial flutter", "atrial fibrillation", "aortic dissection")] * 40)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_api_example(), str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["vectors"].shape == (2, 384)
    assert namespace["run"].run_dir == Path("runs/api-demo")
    assert [e["eval_set"]["name"] for e in namespace["report"].evaluations] == ["cardiology", "nephrology"]
    assert (tmp_path / "runs" / "api-demo" / "metrics.json").exists()


@pytest.mark.parametrize("needle", ["cardiolora.train(", "cardiolora.evaluate(", "cardiolora.Embedder.load("])
def test_the_example_uses_the_front_door(needle):
    assert needle in _python_api_example()
