"""Encoding speed: cardiolora's Embedder vs plain SentenceTransformer.encode, side by side in one run.

    .venv/bin/python benchmarks/encode_speed.py --model minilm --n-texts 2000

Both paths load the same weights and encode the same texts with the same batch size. Runs are
interleaved (plain, ours, plain, ours...) after a warm-up so that machine noise hits both alike; the
median over repeats is reported. If the CPU runs bf16 natively, the Embedder's bf16 path is measured
too, with its largest deviation in cosine from the float32 result; ``--torch-int8`` adds torch's
dynamic int8 quantization of every Linear layer (the int8 path that serving does not offer: see the
README).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def clinical_texts(n: int) -> list[str]:
    """``n`` texts drawn from the bundled evaluation sets' sentences, varied so none repeats exactly."""
    from cardiolora.evaluation import bundled_eval_sets, load_eval_set

    pool = sorted({s for name in bundled_eval_sets() for s in load_eval_set(name).sentences()})
    return [f"{pool[i % len(pool)]} (case {i // len(pool)})" for i in range(n)]


def timed(encode, texts) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = encode(texts)
    return time.perf_counter() - start, np.asarray(vectors, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--n-texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--torch-int8",
        action="store_true",
        help="Also torch's dynamic int8 (quantize_dynamic on every Linear), the int8 path serving does not take.",
    )
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from cardiolora.embedding import Embedder
    from cardiolora.embedding.embedder import bf16_supported
    from cardiolora.models import resolve_model

    console = Console(width=120)
    texts = clinical_texts(args.n_texts)
    resolved = resolve_model(args.model)
    ours = Embedder.load(args.model, batch_size=args.batch_size, device="cpu")
    plain = SentenceTransformer(str(resolved.path), device="cpu")
    plain.max_seq_length = ours.model.max_seq_length
    paths = {
        "SentenceTransformer.encode (fp32)": lambda t: plain.encode(
            t, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ),
        "cardiolora Embedder (fp32)": lambda t: ours.encode(t, role=None, show_progress=False),
    }
    if bf16_supported("cpu"):
        ours_bf16 = Embedder(ours.model, ours.spec, ours.source, batch_size=args.batch_size, precision="bf16")
        paths["cardiolora Embedder (bf16 autocast)"] = lambda t: ours_bf16.encode(t, role=None, show_progress=False)

    if args.torch_int8:
        import copy
        import warnings

        with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(ours.model), {torch.nn.Linear}, dtype=torch.qint8
            )
        ours_int8 = Embedder(quantized, ours.spec, ours.source, batch_size=args.batch_size, precision="fp32")
        paths["torch dynamic int8 (quantize_dynamic)"] = lambda t: ours_int8.encode(t, role=None, show_progress=False)

    for encode in paths.values():  # warm-up: first calls pay for allocation and kernel selection
        encode(texts[: 4 * args.batch_size])
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, encode in paths.items():
            elapsed, vectors[name] = timed(encode, texts)
            seconds[name].append(elapsed)

    baseline_name = next(iter(paths))
    baseline = statistics.median(seconds[baseline_name])
    reference = vectors[baseline_name]
    table = Table(
        title=f"{args.model}: {args.n_texts} texts, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats}"
    )
    for column in ("path", "emb/s", "ratio vs plain", "max |Δ cosine| vs plain"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for name in paths:
        median = statistics.median(seconds[name])
        deviation = np.abs((vectors[name] * reference).sum(1) - 1.0).max()
        table.add_row(name, f"{args.n_texts / median:,.1f}", f"{baseline / median:.2f}x", f"{deviation:.2e}")
    console.print(table)


if __name__ == "__main__":
    main()
