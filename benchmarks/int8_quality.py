"""What int8 does to served vectors, side by side in one run: ONNX Runtime's dynamic int8 (what
`cardiolora serve --backend onnx-int8` runs) and static int8 (activation ranges calibrated once),
against the fp32 ONNX export of the same model and adapter.

    .venv/bin/python benchmarks/int8_quality.py --model minilm --adapter studies/quick/models/minilm/train/adapter

For each: encoding speed at batch 32 and batch 1, the cardiology separation change against the
offline fp32 evaluation when the texts arrive as requests of 64, of 16 and one at a time, and the
lowest cosine between a text encoded alone and the same text inside a batch of 32 (1.0: a text's
vector does not depend on its batch-mates). Dynamic quantization computes each activation's scale
from the whole batch, padding and other requests' texts included; static quantization does not.
Static calibration uses the bundled non-cardiology evaluation sets' sentences (512, padded to 64).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from serve_load import cardiology_separation, separation_offline  # noqa: E402


def static_int8(fp32_path: Path, out: Path, tokenizer, input_names: list[str]) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from cardiolora.evaluation import bundled_eval_sets, load_eval_set

    texts = sorted({s for n in bundled_eval_sets() if n != "cardiology" for s in load_eval_set(n).sentences()})[:512]

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            encoded = (
                tokenizer(texts[i : i + 32], padding="max_length", truncation=True, max_length=64, return_tensors="np")
                for i in range(0, len(texts), 32)
            )
            self.batches = iter([{n: batch[n].astype(np.int64) for n in input_names} for batch in encoded])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(
        str(fp32_path),
        str(out),
        Batches(),
        quant_format=QuantFormat.QOperator,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        op_types_to_quantize=["MatMul"],
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import onnxruntime as ort

    from cardiolora.evaluation import load_eval_set
    from cardiolora.serve.onnx import OnnxPool, export_onnx

    console = Console(width=140)
    sentences = load_eval_set("cardiology").sentences()
    with console.status("exporting"):
        pool = OnnxPool.load(args.model, {"dynamic int8 (onnx-int8)": args.adapter}, quantize=True)
        fp32_path = export_onnx(args.model, args.adapter, quantize=False)
        inputs = json.loads((fp32_path.parent / "export.json").read_text())["inputs"]
        offline = separation_offline(args.model, args.adapter)
        del pool.sessions[args.model]
        cpu = ["CPUExecutionProvider"]
        pool.sessions["fp32 (onnx)"] = ort.InferenceSession(str(fp32_path), providers=cpu)
        with tempfile.TemporaryDirectory() as tmp:
            static = static_int8(fp32_path, Path(tmp) / "static.onnx", pool.tokenizer, inputs)
            pool.sessions["static int8"] = ort.InferenceSession(str(static), providers=cpu)
    rates: dict[tuple[str, int], list[float]] = {}
    with console.status("timing"):
        for _ in range(args.repeats):
            for name in pool.sessions:
                for batch in (32, 1):
                    started = time.perf_counter()
                    pool.encode(sentences, name, batch_size=batch)
                    rates.setdefault((name, batch), []).append(len(sentences) / (time.perf_counter() - started))
    table = Table(title=f"int8_quality: {args.model} + {args.adapter}, separation offline fp32 {offline:.4f}")
    for column in ("path", "emb/s batch 32 / 1", "separation change: requests of 64 / 16 / 1", "alone vs batch"):
        table.add_column(column)
    for name in pool.sessions:
        changes = []
        for size in (64, 16, 1):
            vectors = {}
            for start in range(0, len(sentences), size):
                chunk = sentences[start : start + size]
                vectors.update(zip(chunk, pool.encode(chunk, name), strict=True))
            changes.append(f"{cardiology_separation(vectors) - offline:+.4f}")
        alone = np.concatenate([pool.encode([text], name) for text in sentences])
        together = pool.encode(sentences, name, batch_size=32)
        speeds = " / ".join(f"{statistics.median(rates[(name, b)]):,.0f}" for b in (32, 1))
        lowest = (alone * together).sum(1).min()
        table.add_row(name, speeds, " / ".join(changes), f"min cosine {lowest:.4f}")
    console.print(table)


if __name__ == "__main__":
    main()
