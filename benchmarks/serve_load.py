"""Serving under load, side by side in one run, against `cardiolora serve` on loopback.

    .venv/bin/python benchmarks/serve_load.py --model minilm [--adapter runs/x/adapter]
    .venv/bin/python benchmarks/serve_load.py --model minilm --soak [--soak-requests 10000]

Prints, each measured in this run on this machine, `cardiolora serve` with its defaults, --concurrency
clients (8) sending --per-request texts (16) with `encoding_format` base64 (the OpenAI client's default):
1. the served adapter's texts/s vs plain sentence-transformers fp32 `encode` of the base model in this
   process, before any server starts (aim: >= 2x);
2. the adapter vs the base model on the same server (aim: >= 0.97x);
3. requests spread over 8 adapters (mixed batches) vs all on 1 adapter (aim: >= 0.9x);
4. p50 / p99 request latency at concurrency 1 and 16;
5. the separation on the bundled cardiology set of the served vectors minus that of the offline fp32
   evaluation (`Embedder`, as `cardiolora evaluate --adapter`) (aim: |d| <= 0.005);
6. 1,000 requests with malformed ones mixed in: errors among the good ones and 5xx responses (aim: 0);
7. --backend onnx-int8 vs the torch default: texts/s and separation change.

With --soak, only the soak: --soak-requests requests (10,000), a quarter malformed, hostile or
oversized (413, 400 before tokenization, deep nesting, huge integers, lone surrogates, bad UTF-8),
from --concurrency clients (16) plus --soak-slow slow ones that send their bodies a few bytes at a
time (half of them within the request timeout, half stalling past it); prints errors on good
requests, 5xx responses, what the slow clients got, and the server's RSS (VmRSS) growth from after
a warm-up to the end (aims: 0, 0, 200 and 408, < 10%).

Each server runs in its own process (`python -m cardiolora serve`); the clients are asyncio + httpx
here. The adapters are random LoRA weights made by PEFT (distinct per name), so no training is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console()


def random_adapters(model: str, count: int, root: Path) -> dict[str, Path]:
    """``count`` LoRA adapters with random (non-zero) weights on the model's default targets."""
    import torch
    from peft import LoraConfig, get_peft_model

    from cardiolora.models import load_sentence_transformer, resolve_model

    resolved = resolve_model(model)
    adapters = {}
    for i in range(count):
        torch.manual_seed(i)
        st = load_sentence_transformer(resolved)
        config = LoraConfig(
            r=16, lora_alpha=32, target_modules=list(resolved.spec.lora_targets), init_lora_weights=False
        )
        peft_model = get_peft_model(st[0].auto_model, config)
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_" in name:
                    param.mul_(0.05)  # small: a realistic adapter moves embeddings, it does not scramble them
        path = root / f"adapter-{i}"
        peft_model.save_pretrained(str(path))
        adapters[f"a{i}"] = path
    return adapters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, model: str, adapters: dict[str, Path], backend: str, extra: list[str] | None = None) -> None:
        self.port = free_port()
        args = [
            sys.executable,
            "-m",
            "cardiolora",
            "serve",
            "--model",
            model,
            "--port",
            str(self.port),
            "--backend",
            backend,
        ]
        for name, path in adapters.items():
            args += ["--adapter", f"{name}={path}"]
        args += extra or []
        # A file, not a pipe: nobody reads the server's warnings while it runs, and a full pipe would block it.
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 600) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise RuntimeError("server did not start")

    def __enter__(self) -> Server:
        self.wait()
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        if exc[0] is not None:
            console.print(f"[red]server log:[/red] {Path(self.log.name).read_text()[-3000:]}")
        Path(self.log.name).unlink(missing_ok=True)


async def load(
    url: str, bodies: list, concurrency: int, latencies: list[float] | None = None
) -> tuple[float, list[int], list[dict]]:
    """Send every body with ``concurrency`` clients; (seconds, status codes, json bodies). Each
    request's seconds are appended to ``latencies`` when given."""
    import httpx

    statuses: list[int] = [0] * len(bodies)
    payloads: list[dict] = [{}] * len(bodies)
    queue: asyncio.Queue = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)

    async def worker(client) -> None:
        while not queue.empty():
            index, body = queue.get_nowait()
            started = time.perf_counter()
            if isinstance(body, str | bytes):
                response = await client.post(
                    url + "/v1/embeddings", content=body, headers={"content-type": "application/json"}
                )
            else:
                response = await client.post(url + "/v1/embeddings", json=body)
            if latencies is not None:
                latencies.append(time.perf_counter() - started)
            statuses[index] = response.status_code
            try:
                payloads[index] = response.json()
            except ValueError:
                payloads[index] = {}

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
        return time.perf_counter() - started, statuses, payloads


# What the official OpenAI client asks for unless told otherwise (it decodes base64 itself).
ENCODING_FORMAT = "base64"


def request_bodies(names: list[str], texts: list[str], requests: int, per_request: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    return [
        {"model": rng.choice(names), "input": rng.sample(texts, per_request), "encoding_format": ENCODING_FORMAT}
        for _ in range(requests)
    ]


def decode_embedding(value) -> np.ndarray:
    if isinstance(value, str):
        import base64

        return np.frombuffer(base64.b64decode(value), dtype="<f4")
    return np.asarray(value)


def throughput(
    url: str,
    names: list[str],
    texts: list[str],
    requests: int,
    per_request: int,
    concurrency: int,
    seed: int = 0,
    latencies: list[float] | None = None,
) -> float:
    bodies = request_bodies(names, texts, requests, per_request, seed)
    asyncio.run(load(url, bodies[:concurrency], concurrency))  # warm-up
    seconds, statuses, _ = asyncio.run(load(url, bodies, concurrency, latencies))
    assert all(s == 200 for s in statuses), set(statuses)
    return requests * per_request / seconds


def plain_sentence_transformers(model: str, texts: list[str], requests: int, per_request: int) -> float:
    """Texts/s of plain ``SentenceTransformer.encode`` (fp32, its default batch size) of the base model
    on the same texts the clients send: the library path a team served before."""
    from sentence_transformers import SentenceTransformer

    from cardiolora.models import resolve_model

    st = SentenceTransformer(str(resolve_model(model).path), device="cpu")
    sample = [t for body in request_bodies(["x"], texts, requests, per_request) for t in body["input"]]
    st.encode(sample[:64])  # warm-up
    started = time.perf_counter()
    st.encode(sample)
    return len(sample) / (time.perf_counter() - started)


def cardiology_separation(vectors: dict[str, np.ndarray]) -> float:
    from cardiolora.evaluation import load_eval_set
    from cardiolora.evaluation.metrics import separation

    eval_set = load_eval_set("cardiology")
    cos = {
        c: np.array([vectors[p.sentence1] @ vectors[p.sentence2] for p in eval_set.of_category(c)])
        for c in ("similar", "different")
    }
    return separation(cos["similar"], cos["different"])


def separation_via(url: str, model: str) -> float:
    from cardiolora.evaluation import load_eval_set

    sentences = load_eval_set("cardiology").sentences()
    vectors = {}
    for start in range(0, len(sentences), 64):
        chunk = sentences[start : start + 64]
        body = {"model": model, "input": chunk, "encoding_format": ENCODING_FORMAT}
        _, statuses, payloads = asyncio.run(load(url, [body], 1))
        for text, item in zip(chunk, payloads[0]["data"], strict=True):
            vectors[text] = decode_embedding(item["embedding"])
    return cardiology_separation(vectors)


def separation_offline(model: str, adapter: Path) -> float:
    """The offline fp32 evaluation's separation (the Embedder that `cardiolora evaluate` uses)."""
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import load_eval_set

    sentences = load_eval_set("cardiology").sentences()
    vectors = Embedder.load(model, adapter=adapter).encode(sentences)
    return cardiology_separation(dict(zip(sentences, vectors, strict=True)))


def ratio_row(what: str, ours: float, theirs: float, aim: str) -> tuple[str, ...]:
    return (what, f"{ours:.1f} / {theirs:.1f} texts/s", f"{ours / theirs:.2f}x", aim)


def change_row(what: str, ours: float, reference: float) -> tuple[str, ...]:
    return (what, f"{ours:.4f} - {reference:.4f}", f"{ours - reference:+.4f}", "|d| <= 0.005")


def percentiles(latencies: list[float]) -> str:
    ms = np.asarray(latencies) * 1000
    return f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 99):.1f} ms"


def malformed_mix(
    names: list[str], texts: list[str], total: int, seed: int = 0, bad: list | None = None
) -> tuple[list, list[bool]]:
    rng = random.Random(seed)
    bad = bad or ["{not json", "[]", '{"input": "x"}', {"model": "nope", "input": "x"},
           {"model": names[0], "input": []}, {"model": names[0], "input": ["", "x"]},
           {"model": names[0], "input": "x", "dimensions": -3}, {"model": names[0], "input": ["x"] * 1000},
           {"model": names[0], "input": [1, 2, 3]}]  # fmt: skip
    bodies, good = [], []
    for _ in range(total):
        if rng.random() < 0.25:
            bodies.append(rng.choice(bad))
            good.append(False)
        else:
            bodies.append({"model": rng.choice(names), "input": rng.sample(texts, 2)})
            good.append(True)
    return bodies, good


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` now (VmRSS, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# The soak server's limits: the defaults, except a smaller body limit (oversized bodies stay cheap
# to send) and a request timeout short enough for the stalling slow clients to see theirs.
SOAK_BODY_BYTES = 262_144
SOAK_TIMEOUT_S = 10.0


def hostile_bodies(names: list[str], body_limit: int) -> list:
    """Malformed, hostile and oversized bodies, each refused with a 4xx (strings and bytes are sent
    as they are, dicts as JSON)."""
    model = names[0]
    return [
        "{not json", "[]", '{"input": "x"}', {"model": "nope", "input": "x"}, {"model": model, "input": []},
        {"model": model, "input": ["", "x"]}, {"model": model, "input": "x", "dimensions": -3},
        {"model": model, "input": ["x"] * 1000}, {"model": model, "input": [1, 2, 3]},
        {"model": model, "input": "x", "dimensions": True}, {"model": model, "input": "x", "dimensions": "3"},
        f'{{"model": "{model}", "input": "x", "dimensions": {"9" * 5000}}}',
        f'{{"model": "{model}", "input": "lone \\ud800 surrogate"}}',
        b'{"model": "%s", "input": "\xff\xfe"}' % model.encode(),
        "[" * 100_000,
        {"model": model, "input": "word " * 7000},  # 35,000 characters: over --max-input-chars
        b'{"model": "%s", "input": "' % model.encode() + b"x" * (body_limit + 1) + b'"}',  # over --max-body-bytes
    ]  # fmt: skip


async def soak_load(url: str, bodies: list, concurrency: int) -> tuple[float, list[int], list[float]]:
    """Like :func:`load`, but a transport error is recorded (status -1), not raised: a server may
    close the connection on an oversized body it refused without reading."""
    import httpx

    statuses, seconds = [0] * len(bodies), [0.0] * len(bodies)
    queue: asyncio.Queue = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)

    async def worker(client) -> None:
        while not queue.empty():
            index, body = queue.get_nowait()
            started = time.perf_counter()
            try:
                if isinstance(body, str | bytes):
                    response = await client.post(
                        url + "/v1/embeddings", content=body, headers={"content-type": "application/json"}
                    )
                else:
                    response = await client.post(url + "/v1/embeddings", json=body)
                statuses[index] = response.status_code
            except httpx.TransportError:
                statuses[index] = -1
            seconds[index] = time.perf_counter() - started

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
        return time.perf_counter() - started, statuses, seconds


async def slow_request(port: int, body: bytes, *, pause: float, stall: bool) -> int:
    """One request over a raw socket whose body is sent 8 bytes per ``pause`` seconds (or, with
    ``stall``, half of it and then nothing); the status the server answered, -1 for none."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (f"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
        writer.write(head.encode())
        sent = body[: len(body) // 2] if stall else body
        for start in range(0, len(sent), 8):
            writer.write(sent[start : start + 8])
            await writer.drain()
            await asyncio.sleep(pause)
        line = await asyncio.wait_for(reader.readline(), SOAK_TIMEOUT_S + 30)
        return int(line.split()[1]) if line.startswith(b"HTTP/") else -1
    except (OSError, TimeoutError, ValueError, IndexError):
        return -1
    finally:
        writer.close()


async def soak_run(server: Server, bodies: list, concurrency: int, slow: int, good_body: bytes) -> dict:
    """The main load and ``slow`` slow clients at once; the slow ones repeat until the load is done."""
    results: dict[str, list[int]] = {"trickle": [], "stall": []}
    done = asyncio.Event()

    async def slow_client(kind: str) -> None:
        while not done.is_set():
            results[kind].append(await slow_request(server.port, good_body, pause=0.05, stall=kind == "stall"))

    slow_tasks = [asyncio.create_task(slow_client("stall" if i % 2 else "trickle")) for i in range(slow)]
    seconds, statuses, latencies = await soak_load(server.url, bodies, concurrency)
    done.set()
    await asyncio.gather(*slow_tasks)
    return {"seconds": seconds, "statuses": statuses, "latencies": latencies, **results}


def soak(args, texts: list[str]) -> list[tuple[str, ...]]:
    import json

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        console.print("making 2 random adapters")
        adapters = random_adapters(args.model, 2, Path(tmp))
        extra = ["--max-body-bytes", str(SOAK_BODY_BYTES), "--request-timeout-s", str(SOAK_TIMEOUT_S)]
        extra += ["--precision", args.precision] if args.precision else []
        with Server(args.model, adapters, "torch", extra) as server:
            names = [args.model, *adapters]
            console.print(f"soak: {args.soak_requests} requests, {args.concurrency} clients "
                          f"+ {args.soak_slow} slow ones (server: defaults, {' '.join(extra)})")  # fmt: skip
            warm = [
                {"model": random.Random(i).choice(names), "input": random.Random(i).sample(texts, 2)}
                for i in range(200)
            ]
            asyncio.run(soak_load(server.url, warm, args.concurrency))
            before = rss_kib(server.process.pid)
            bodies, good = malformed_mix(names, texts, args.soak_requests, bad=hostile_bodies(names, SOAK_BODY_BYTES))
            good_body = json.dumps({"model": names[0], "input": texts[:2]}).encode()
            result = asyncio.run(soak_run(server, bodies, args.concurrency, args.soak_slow, good_body))
            after = rss_kib(server.process.pid)
        statuses = result["statuses"]
        good_errors = sum(1 for s, g in zip(statuses, good, strict=True) if g and s != 200)
        server_errors = sum(1 for s in [*statuses, *result["trickle"], *result["stall"]] if s >= 500)
        bad_ok = sum(1 for s, g in zip(statuses, good, strict=True) if not g and s == 200)
        closed = sum(1 for s, g in zip(statuses, good, strict=True) if not g and s == -1)
        codes = sorted({s for s, g in zip(statuses, good, strict=True) if not g})
        good_seconds = sorted(t for t, g in zip(result["latencies"], good, strict=True) if g)
        p50, p99 = good_seconds[len(good_seconds) // 2], good_seconds[int(len(good_seconds) * 0.99)]
        growth = (after - before) / before
        trickle, stall = result["trickle"], result["stall"]
        rows += [
            ("requests / malformed / time", f"{len(bodies)} / {good.count(False)} / {result['seconds']:.0f} s",
             f"{len(bodies) / result['seconds']:.0f} req/s", ""),
            ("errors on good requests / 5xx (all)", f"{good_errors} / {server_errors}", "", "0 / 0"),
            ("malformed answered 200 / refused by closing", f"{bad_ok} / {closed}", f"codes {codes}", "0 / -"),
            ("good request latency p50 / p99", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms", "", ""),
            ("slow clients: trickled bodies answered 200", f"{trickle.count(200)} of {len(trickle)}",
             f"others {sorted(set(trickle) - {200})}", "all"),
            ("slow clients: stalled bodies answered 408", f"{stall.count(408)} of {len(stall)}",
             f"others {sorted(set(stall) - {408})}", "all"),
            ("server RSS after warm-up -> after soak", f"{before / 1024:.0f} -> {after / 1024:.0f} MiB",
             f"{growth:+.1%}", "< +10%"),
        ]  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument(
        "--adapter", type=Path, help="A trained adapter for the separation check (default: the base model)."
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--per-request", type=int, default=16)
    parser.add_argument("--concurrency", type=int, help="Clients (default 8; 16 with --soak).")
    parser.add_argument(
        "--encoding-format", choices=("base64", "float"), default="base64", help="As the OpenAI client: base64."
    )
    parser.add_argument("--max-batch", type=int, help="Passed to the torch server (default: serve's own).")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="Passed to the torch server.")
    parser.add_argument("--soak", action="store_true", help="Run only the soak (see above).")
    parser.add_argument("--soak-requests", type=int, default=10_000)
    parser.add_argument("--soak-slow", type=int, default=4, help="Slow clients beside the --concurrency ones.")
    args = parser.parse_args()
    args.concurrency = args.concurrency or (16 if args.soak else 8)
    global ENCODING_FORMAT
    ENCODING_FORMAT = args.encoding_format
    from cardiolora.evaluation import load_eval_set

    texts = load_eval_set("cardiology").sentences()
    if args.soak:
        table = Table(
            title=f"serve_load --soak: {args.model}, {args.soak_requests} requests, "
            f"{args.concurrency} + {args.soak_slow} slow clients"
        )
        for column in ("measure", "values", "detail", "aim"):
            table.add_column(column)
        for row in soak(args, texts):
            table.add_row(*row)
        console.print(table)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        console.print("making 8 random adapters")
        adapters = random_adapters(args.model, 8, Path(tmp))
        cardio = args.adapter or adapters["a0"]
        n, per, conc = args.requests, args.per_request, args.concurrency
        console.print("plain sentence-transformers fp32 on the base model (no server running)")
        plain = plain_sentence_transformers(args.model, texts, n, per)
        offline = separation_offline(args.model, cardio)
        extra = ["--max-batch", str(args.max_batch)] if args.max_batch else []
        extra += ["--precision", args.precision] if args.precision else []
        with Server(args.model, {"cardio": cardio, **adapters}, "torch", extra) as server:
            console.print("served: the adapter, the base model, 8 adapters mixed; latency; separation")
            adapter = throughput(server.url, ["cardio"], texts, n, per, conc)
            base = throughput(server.url, [args.model], texts, n, per, conc)
            one = throughput(server.url, ["a0"], texts, n, per, conc)
            eight = throughput(server.url, list(adapters), texts, n, per, conc)
            latency = {}
            for clients in (1, 16):
                seconds: list[float] = []
                throughput(server.url, ["cardio"], texts, max(100, clients * 10), per, clients, latencies=seconds)
                latency[clients] = percentiles(seconds)
            served = separation_via(server.url, "cardio")
            rows += [
                ratio_row("served adapter / plain ST fp32 (base)", adapter, plain, ">= 2x"),
                ratio_row("served adapter / base, same server", adapter, base, ">= 0.97x"),
                ratio_row("8 adapters mixed / 1 adapter", eight, one, ">= 0.9x"),
                ("latency p50 / p99, concurrency 1", latency[1], "", ""),
                ("latency p50 / p99, concurrency 16", latency[16], "", ""),
                change_row("separation, served - offline fp32", served, offline),
            ]
            console.print("1,000 requests with malformed ones mixed in")
            bodies, good = malformed_mix(list(adapters), texts, 1000)
            _, statuses, _ = asyncio.run(load(server.url, bodies, conc))
            good_errors = sum(1 for s, g in zip(statuses, good, strict=True) if g and s != 200)
            server_errors = sum(1 for s in statuses if s >= 500)
            bad_ok = sum(1 for s, g in zip(statuses, good, strict=True) if not g and s == 200)
            rows.append(
                (
                    "errors on good requests / 5xx / malformed accepted",
                    f"{good_errors} / {server_errors} / {bad_ok} of {len(bodies)} ({good.count(False)} malformed)",
                    "",
                    "0 / 0 / 0",
                )
            )
        console.print("onnx-int8 backend: throughput and separation (cardio)")
        with Server(args.model, {"cardio": cardio}, "onnx-int8") as server:
            int8_rate = throughput(server.url, ["cardio"], texts, n, per, conc)
            int8_separation = separation_via(server.url, "cardio")
        rows += [
            ratio_row("onnx-int8 / torch default, adapter", int8_rate, adapter, ""),
            change_row("separation, onnx-int8 - offline fp32", int8_separation, offline),
        ]
    table = Table(
        title=f"serve_load: {args.model}, {args.requests} requests x {args.per_request} texts, "
        f"{args.concurrency} clients"
    )
    for column in ("measure", "values", "ratio / change", "aim"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
