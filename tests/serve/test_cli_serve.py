from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cardiolora.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model", "minilmm"], "did you mean 'minilm'"),
        (["--model", "minilm", "--adapter", "nodir"], "NAME=DIR"),
        (["--model", "minilm", "--adapter", "a=/nonexistent"], "does not exist"),
        (["--model", "minilm", "--overlong", "drop"], "truncate or reject"),
        (["--model", "minilm", "--backend", "tensorrt"], "torch, onnx or onnx-int8"),
        (["--model", "minilm", "--max-inputs", "0"], "--max-inputs"),
        (["--model", "minilm", "--adapter-dir", "/nonexistent"], "not a directory"),
        (["--model", "minilm", "--max-body-bytes", "0"], "--max-body-bytes"),
        (["--model", "minilm", "--max-input-chars", "0"], "--max-input-chars"),
        (["--model", "minilm", "--max-queue", "0"], "--max-queue"),
        (["--model", "minilm", "--request-timeout-s", "0"], "--request-timeout-s"),
        (["--model", "minilm", "--adapter", "__base__=/tmp"], "reserved"),
        (["--model", "minilm", "--adapter", "a/b=/tmp"], "invalid adapter name"),
    ],
)
def test_bad_serve_options_fail_before_the_server_starts(args, fragment):
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
