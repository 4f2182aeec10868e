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
                                           ("atrial flutter", "atrial fibrillation", "aortic dissection")]
                                          * 40)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_api_example(), str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["vectors"].shape == (2, 384)
    assert namespace["run"].run_dir == Path("runs/api-demo")
    assert namespace["run"].training.global_step == 2 and namespace["run"].final.evaluations
    assert [e["eval_set"]["name"] for e in namespace["report"].evaluations] == ["cardiology", "nephrology"]
    assert (tmp_path / "runs" / "api-demo" / "metrics.json").exists()


@pytest.mark.parametrize("needle", ["cardiolora.train(", "cardiolora.evaluate(", "cardiolora.Embedder.load("])
def test_the_example_uses_the_front_door(needle):
    assert needle in _python_api_example()


def _toml_examples() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(), re.DOTALL)


def test_the_readme_has_a_training_toml_example():
    assert any('model = "minilm"' in block and "[peft]" in block for block in _toml_examples())


@pytest.mark.parametrize("block", _toml_examples(), ids=lambda block: block.split("\n", 1)[0])
def test_every_readme_toml_example_trains(block, tiny_model_dir, tiny_pairs, tmp_path):
    """Each TOML example, as written, except the model, the data and the place of the run (a tiny
    model for speed) and two steps: the option combinations (eval_steps 40 with the default save
    interval crashed transformers once) are checked before anything is written, and it trains."""
    import tomllib

    from cardiolora.training import build_config, train

    values = tomllib.loads(block)
    values |= {"model": str(tiny_model_dir("bert")), "data": str(tiny_pairs), "out": str(tmp_path / "run"),
               "max_steps": 2, "report_to": [], "eval_resamples": 100}  # fmt: skip
    result = train(build_config(values, source="README.md"), log=lambda *_: None)
    assert (result.run_dir / "adapter" / "adapter_model.safetensors").exists()
    resolved = json.loads((result.run_dir / "config.json").read_text())
    if resolved["eval_steps"]:
        assert resolved["save_steps"] % resolved["eval_steps"] == 0


def _quick_readme_commands() -> list[str]:
    """The README's commands that finish in seconds on a CPU and write nothing: listings and dry runs
    (a README command once ended in a traceback: the paper preset's dry run timed an 8-bit recipe)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.DOTALL):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith(".venv/bin/cardiolora") and ("--dry-run" in command or " models list" in command):
                if "[" not in command and "my-study.toml" not in command:  # placeholders, not commands
                    commands.append(command)
    return commands


def test_the_readme_has_quick_commands_to_run():
    assert any("--preset paper --dry-run" in c for c in _quick_readme_commands())
    assert any("models list" in c for c in _quick_readme_commands())


@pytest.mark.parametrize("command", _quick_readme_commands())
def test_each_quick_readme_command_runs_as_written(command, tmp_path, monkeypatch):
    import shlex

    from typer.testing import CliRunner

    from cardiolora.cli import app

    monkeypatch.chdir(tmp_path)  # a dry run writes nothing; if it did, not into the repository
    monkeypatch.setenv("CARDIOLORA_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir()) or {p.name for p in tmp_path.iterdir()} <= {"cache"}
