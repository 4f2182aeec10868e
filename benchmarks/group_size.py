"""What a mixed-adapter batch costs the encoder, side by side in one run: the same texts encoded as
64-text batches on one model, vs split into 16-text groups that rotate over 8 model copies (what
`cardiolora serve` does with a batch whose requests ask for different adapters: one forward pass
per adapter on its merged copy).

    .venv/bin/python benchmarks/group_size.py --model minilm

Each copy is a separate set of weights (as merged copies are), so switching copies also costs the
memory traffic of reading other weights. Both shapes run under bf16 autocast with float32 weights
(the server's default), and again with the copies' weights held in bf16. Runs are interleaved over
repeats; medians are printed, with their ratio.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--group", type=int, default=16, help="texts per adapter in a mixed batch")
    parser.add_argument("--batch", type=int, default=64, help="texts per batch (serve's --max-batch)")
    parser.add_argument("--repeats", type=int, default=12)
    args = parser.parse_args()
    import torch

    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import load_eval_set

    texts = load_eval_set("cardiology").sentences()[: args.batch * 4]
    batches = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]
    base = Embedder.load(args.model, precision="bf16")
    copies = {"float32 weights": [], "bf16 weights": []}
    for weights, held in copies.items():
        for _ in range(args.copies):
            model = copy.deepcopy(base.model)
            if weights == "bf16 weights":
                model.to(torch.bfloat16)
            embedder = Embedder(model, base.spec, base.source, None, base.batch_size, "bf16")
            embedder.encode(texts[: args.group])  # warm-up
            held.append(embedder)

    def one_model(held) -> None:
        for batch in batches:
            held[0].encode(batch)

    def rotating_groups(held) -> None:
        turn = 0
        for batch in batches:
            for start in range(0, len(batch), args.group):
                held[turn % len(held)].encode(batch[start : start + args.group])
                turn += 1

    rates: dict[tuple[str, str], list[float]] = {}
    with Console().status("timing") as status:
        for repeat in range(args.repeats):
            status.update(f"repeat {repeat + 1}/{args.repeats}")
            for weights, held in copies.items():
                for shape, run in (("one", one_model), ("groups", rotating_groups)):
                    started = time.perf_counter()
                    run(held)
                    rates.setdefault((weights, shape), []).append(len(texts) / (time.perf_counter() - started))
    table = Table(title=f"group_size: {args.model}, {len(texts)} texts, median of {args.repeats}")
    columns = ("weights", f"{args.batch}-text batches, 1 model", f"{args.group}-text groups, {args.copies} copies")
    for column in (*columns, "ratio"):
        table.add_column(column)
    for weights in copies:
        one = statistics.median(rates[(weights, "one")])
        groups = statistics.median(rates[(weights, "groups")])
        table.add_row(weights, f"{one:,.0f} emb/s", f"{groups:,.0f} emb/s", f"{groups / one:.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
