"""Serving under load, side by side in one run, against `cardiolora serve` on loopback.

    .venv/bin/python benchmarks/serve_load.py --model minilm [--adapter runs/x/adapter]
    .venv/bin/python benchmarks/serve_load.py --model minilm --soak [--soak-requests 10000] [--json FILE]
    .venv/bin/python benchmarks/serve_load.py --smoke

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

With --soak, only the soak (issue 23's acceptance): --soak-requests requests (10,000), a quarter
malformed, hostile or oversized (413, 400 before tokenization, deep nesting, huge integers, lone
surrogates, bad UTF-8), from --concurrency clients (16), twice on one server: alone, then beside the
hostile groups, which repeat until the load is done:
- --soak-slow slow-body clients (4): the body a few bytes at a time, half within the request timeout
  (expected: served), half stalling past it (expected: 408);
- --soak-slow-headers slow-header clients (4), raw sockets: the request's headers a few bytes at a
  time, half done within the header timeout (expected: served), half crawling past it (expected: 408);
- --soak-rotating clients (2) whose good requests rotate over --soak-rotate-adapters adapters (6),
  more than the merged copies the server's --merged-cache-mb holds (--soak-cache-copies, 4).
Prints, side by side, the good requests' errors, 5xx responses and p50 / p99 latency without and with
the hostile groups and the ratio of the p99s; each hostile group's outcomes (served, 408, closed, no
answer); the server's RSS (VmRSS) growth from after a warm-up to the end; and requests rotating over
those adapters one at a time (single-adapter batches), and all for one adapter, on that server vs a
second one with merging off (--merged-cache-mb 0), interleaved (--soak-rotate-rounds, median).
Aims: 0 errors, 0 5xx, every slow client served or 408, p99 ratio <= 2x, RSS < +10%. The merged vs
merging-off rates are shown, not judged: two server processes with the same settings measured 0.88-0.93x
of each other here (``--soak-cache-copies 0``, no copy in either); benchmarks/merged_copies.py judges
the merged-copy policy in one process. --smoke runs it with short durations and a tiny
random BERT (seconds: does it run, not how fast). --json FILE writes the results (either mode).

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

# Wide when written to a file or pipe (rich's default there is 80 columns, which folds the tables).
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140)


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
# to send), a request timeout short enough for the stalling slow clients to see theirs, and a
# merged-copy budget of --soak-cache-copies model copies, fewer than the rotating clients' adapters.
SOAK_BODY_BYTES = 262_144

# The soak's sizes and durations (--soak-* flags), and the short ones of --smoke.
SOAK_DEFAULTS = {
    "soak_requests": 10_000,  # main-load requests per phase (without, then with hostile clients)
    "soak_warmup": 200,  # requests before the RSS baseline
    "soak_request_timeout_s": 10.0,  # the server's --request-timeout-s (stalled bodies: 408 after it)
    "soak_header_timeout_s": 10.0,  # the server's --header-timeout-s (its default)
    "soak_slow": 4,  # slow-body clients (half trickle, half stall)
    "soak_slow_headers": 4,  # slow-header clients (half finish in time, half crawl past it)
    "soak_rotating": 2,  # clients whose good requests rotate over --soak-rotate-adapters adapters
    "soak_cache_copies": 4,  # merged copies the server's --merged-cache-mb holds (mpnet's default: 4)
    "soak_rotate_adapters": 6,  # adapters the rotating clients cycle over (more than the copies)
    "soak_rotate_requests": 60,  # requests per measurement of merged copies vs merging off
    "soak_rotate_rounds": 3,  # interleaved rounds of that measurement (median)
}
SMOKE = {
    "soak_requests": 60,
    "soak_warmup": 10,
    "soak_request_timeout_s": 3.0,  # above the good requests' latency on a busy 2-core machine (else 503s)
    "soak_header_timeout_s": 1.0,
    "soak_slow": 2,
    "soak_slow_headers": 2,
    "soak_rotating": 1,
    "soak_cache_copies": 2,
    "soak_rotate_adapters": 4,
    "soak_rotate_requests": 8,
    "soak_rotate_rounds": 1,
}


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


# How a raw-socket client's request ended, besides an HTTP status.
CLOSED, NO_ANSWER, REFUSED = -1, -2, -3
OUTCOME_NAMES = {200: "served", 408: "408", CLOSED: "closed", NO_ANSWER: "no answer", REFUSED: "refused"}


async def raw_request(port: int, parts: list[tuple[bytes, int, float]], wait: float) -> int:
    """One request over a raw socket, sent as ``parts`` of (bytes, chunk, pause): ``chunk`` bytes
    every ``pause`` seconds (chunk 0: all at once), while the answer is read at the same time (a
    server may answer and close before the client has sent everything). The status answered, or
    CLOSED (closed without one), NO_ANSWER (none within ``wait`` s after the last byte), REFUSED."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return REFUSED
    answer = asyncio.ensure_future(reader.readline())
    try:
        try:
            for data, chunk, pause in parts:
                for start in range(0, len(data), chunk or len(data) or 1):
                    if answer.done():
                        break
                    writer.write(data[start : start + chunk] if chunk else data)
                    await writer.drain()
                    if chunk:
                        await asyncio.sleep(pause)
        except OSError:
            pass  # the server closed while this client wrote: its answer may have come first
        try:
            line = await asyncio.wait_for(answer, wait)
        except TimeoutError:
            return NO_ANSWER
        except (OSError, ValueError):
            return CLOSED
        try:
            return int(line.split()[1]) if line.startswith(b"HTTP/") else CLOSED
        except (ValueError, IndexError):
            return CLOSED
    finally:
        if not answer.done():
            answer.cancel()
        writer.close()


def request_head(port: int, body: bytes) -> bytes:
    return (f"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip


def slow_parts(kind: str, port: int, body: bytes, header_timeout_s: float) -> list[tuple[bytes, int, float]]:
    """What a slow client of ``kind`` sends:
    - ``body-trickle``: the headers at once, the body 8 bytes per 50 ms (within the request timeout);
    - ``body-stall``: the headers, half the body as above, then nothing (past the request timeout);
    - ``header-trickle``: the headers 4 bytes at a time, done in half the header timeout, then the body;
    - ``header-crawl``: the headers one byte per tenth of the header timeout (never done in time)."""
    head = request_head(port, body)
    if kind == "body-trickle":
        return [(head, 0, 0.0), (body, 8, 0.05)]
    if kind == "body-stall":
        return [(head, 0, 0.0), (body[: len(body) // 2], 8, 0.05)]
    if kind == "header-trickle":
        return [(head, 4, header_timeout_s / 2 / -(-len(head) // 4)), (body, 0, 0.0)]
    if kind == "header-crawl":
        return [(head, 1, header_timeout_s / 10)]
    raise ValueError(kind)


def outcomes(statuses: list[int]) -> dict[str, int]:
    """How many requests ended each way (served, 408, closed, ...; other statuses by number)."""
    counts: dict[str, int] = {}
    for status in statuses:
        name = OUTCOME_NAMES.get(status, str(status))
        counts[name] = counts.get(name, 0) + 1
    return counts


def show_outcomes(counts: dict[str, int], expected: str) -> str:
    total = sum(counts.values())
    others = ", ".join(f"{n} {name}" for name, n in counts.items() if name != expected)
    return f"{counts.get(expected, 0)} of {total} {expected}" + (f" ({others})" if others else "")


async def soak_run(
    server: Server,
    bodies: list,
    concurrency: int,
    args,
    good_body: bytes | None = None,
    rotating: list[str] | None = None,
    texts: list[str] | None = None,
) -> dict:
    """The main load, alone or (with ``good_body``) beside the hostile groups: slow-body and
    slow-header clients (raw sockets) and clients whose good requests rotate over the ``rotating``
    adapters; each group repeats until the main load is done."""
    import httpx

    groups: dict[str, list[int]] = {}
    rotated: dict[str, list] = {"statuses": [], "latencies": []}
    done = asyncio.Event()
    wait = args.soak_request_timeout_s + args.soak_header_timeout_s + 30

    async def slow_client(kind: str) -> None:
        parts = slow_parts(kind, server.port, good_body, args.soak_header_timeout_s)
        while not done.is_set():
            groups.setdefault(kind, []).append(await raw_request(server.port, parts, wait))

    async def rotating_client(client, offset: int) -> None:
        rng, i = random.Random(offset), offset
        while not done.is_set():
            body = {"model": rotating[i % len(rotating)], "input": rng.sample(texts, 2)}
            i += 1
            started = time.perf_counter()
            try:
                status = (await client.post(server.url + "/v1/embeddings", json=body)).status_code
            except httpx.TransportError:
                status = CLOSED
            rotated["statuses"].append(status)
            rotated["latencies"].append(time.perf_counter() - started)

    tasks = []
    async with httpx.AsyncClient(timeout=120) as client:
        if good_body is not None:
            kinds = [("body-trickle", "body-stall")[i % 2] for i in range(args.soak_slow)]
            kinds += [("header-trickle", "header-crawl")[i % 2] for i in range(args.soak_slow_headers)]
            tasks = [asyncio.create_task(slow_client(kind)) for kind in kinds]
            tasks += [asyncio.create_task(rotating_client(client, i)) for i in range(args.soak_rotating)]
        seconds, statuses, latencies = await soak_load(server.url, bodies, concurrency)
        done.set()
        await asyncio.gather(*tasks)
    return {"seconds": seconds, "statuses": statuses, "latencies": latencies, "groups": groups, "rotating": rotated}


def ms_percentiles(seconds: list[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50_ms": None, "p99_ms": None}
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def phase_summary(result: dict, good: list[bool]) -> dict:
    """The main load's numbers: errors on its good requests, 5xx anywhere, latency of the good ones."""
    statuses = result["statuses"]
    everything = [*statuses, *result["rotating"]["statuses"]]
    return {
        "requests": len(statuses),
        "malformed": good.count(False),
        "seconds": result["seconds"],
        "good_errors": sum(1 for s, g in zip(statuses, good, strict=True) if g and s != 200),
        "server_errors": sum(1 for s in everything if s >= 500),
        "malformed_accepted": sum(1 for s, g in zip(statuses, good, strict=True) if not g and s == 200),
        "malformed_closed": sum(1 for s, g in zip(statuses, good, strict=True) if not g and s == CLOSED),
        "malformed_codes": sorted({s for s, g in zip(statuses, good, strict=True) if not g}),
        **ms_percentiles([t for t, g in zip(result["latencies"], good, strict=True) if g]),
    }


def weight_bytes(model: str) -> int:
    """Bytes of the model's weights: what one merged copy costs the server (``AdapterPool._weight_bytes``)."""
    from cardiolora.models import load_sentence_transformer, resolve_model

    st = load_sentence_transformer(resolve_model(model))
    return sum(p.numel() * p.element_size() for p in st.parameters())


async def rate(url: str, bodies: list) -> float:
    """Texts/s of ``bodies`` sent one at a time (each its own batch, so single-adapter batches)."""
    seconds, statuses, _ = await soak_load(url, bodies, 1)
    assert all(s == 200 for s in statuses), sorted(set(statuses))
    return sum(len(b["input"]) for b in bodies) / seconds


def merged_events(url: str) -> dict[str, float]:
    """The server's merged-copy counts (``cardiolora_merged_copy_events``: hit, miss, built) from /metrics."""
    import re

    import httpx

    text = httpx.get(url + "/metrics", timeout=10).text
    return {
        m[1]: float(m[2]) for m in re.finditer(r'^cardiolora_merged_copy_events\{event="(\w+)"\} (\S+)$', text, re.M)
    }


def merged_vs_unmerged(merged: Server, unmerged: Server, rotating: list[str], one: str, texts, args) -> dict:
    """Texts/s of requests rotating over ``rotating`` (more adapters than the merged copies fit), and of
    requests all for ``one``, on the soak server (merged copies) and on one with merging off; the
    servers alternate within each round, the median round counts."""
    from cardiolora.serve.pool import ADMISSION_WINDOW

    rng = random.Random(1)
    n = args.soak_rotate_requests
    names = {"rotating": [rotating[i % len(rotating)] for i in range(n)], "one": [one] * n}
    cases = {
        case: [{"model": m, "input": rng.sample(texts, args.per_request)} for m in ms] for case, ms in names.items()
    }
    for server in (merged, unmerged):  # warm-up, long enough for `one` to earn its merged copy
        for case, bodies in cases.items():
            count = 2 * ADMISSION_WINDOW if case == "one" and server is merged else len(bodies)
            warm = [{"model": b["model"], "input": b["input"][:2]} for b in (bodies * 4)[:count]]
            asyncio.run(rate(server.url, warm))
    rates: dict[str, dict[str, list[float]]] = {c: {"merged": [], "unmerged": []} for c in cases}
    # What the merged server's copies did in each case's measured requests (hits, misses, copies built).
    events: dict[str, dict[str, float]] = {c: {"hit": 0.0, "switch": 0.0, "miss": 0.0, "built": 0.0} for c in cases}
    for _ in range(args.soak_rotate_rounds):
        for case, bodies in cases.items():
            for label, server in (("merged", merged), ("unmerged", unmerged)):
                before = merged_events(server.url) if label == "merged" else None
                rates[case][label].append(asyncio.run(rate(server.url, bodies)))
                if before is not None:
                    after = merged_events(server.url)
                    for key in events[case]:
                        events[case][key] += after.get(key, 0.0) - before.get(key, 0.0)
    out = {}
    for case, by_server in rates.items():
        medians = {label: float(np.median(values)) for label, values in by_server.items()}
        out[case] = {
            **{f"{k}_texts_s": v for k, v in medians.items()},
            "ratio": medians["merged"] / medians["unmerged"],
            "merged_copy_events": events[case],
        }
        out[case]["rounds"] = by_server
    return out


def soak(args, model: str, texts: list[str]) -> tuple[Table, dict]:
    import contextlib
    import json

    with tempfile.TemporaryDirectory() as tmp:
        copies, n_rotate = args.soak_cache_copies, args.soak_rotate_adapters
        console.print(f"making {2 + n_rotate} random adapters")
        adapters = random_adapters(model, 2 + n_rotate, Path(tmp))
        main_names = [model, "a0", "a1"]
        rotating = [f"a{i}" for i in range(2, 2 + n_rotate)]
        copy_bytes = weight_bytes(model)
        cache_mb = copy_bytes * (copies + 0.5) / 1e6  # room for `copies` copies, not one more
        extra = ["--max-body-bytes", str(SOAK_BODY_BYTES), "--request-timeout-s", str(args.soak_request_timeout_s),
                 "--header-timeout-s", str(args.soak_header_timeout_s)]  # fmt: skip
        extra += ["--precision", args.precision] if args.precision else []
        settings = {
            "model": model, "server": extra, "merged_cache_mb": round(cache_mb, 3), "copy_mb": copy_bytes / 1e6,
            **{k: getattr(args, k) for k in SOAK_DEFAULTS}, "concurrency": args.concurrency,
            "per_request": args.per_request,
        }  # fmt: skip
        with contextlib.ExitStack() as stack:
            # Both servers start at once; the one with merging off idles until the last measurement.
            server = Server(model, adapters, "torch", [*extra, "--merged-cache-mb", f"{cache_mb:.3f}"])
            stack.push(server.__exit__)
            unmerged = Server(model, adapters, "torch", [*extra, "--merged-cache-mb", "0"])
            stack.push(unmerged.__exit__)
            server.wait()
            unmerged.wait()
            console.print(f"soak: {args.soak_requests} requests from {args.concurrency} clients, alone, then beside "
                          f"{args.soak_slow} slow-body, {args.soak_slow_headers} slow-header and {args.soak_rotating} "
                          f"rotating clients ({n_rotate} adapters, merged copies for {copies}); server: defaults, "
                          f"{' '.join(extra)} --merged-cache-mb {cache_mb:.1f}")  # fmt: skip
            warm = [
                {"model": random.Random(i).choice(main_names), "input": random.Random(i).sample(texts, 2)}
                for i in range(args.soak_warmup)
            ]
            asyncio.run(soak_load(server.url, warm, args.concurrency))
            before = rss_kib(server.process.pid)
            bodies, good = malformed_mix(
                main_names, texts, args.soak_requests, bad=hostile_bodies(main_names, SOAK_BODY_BYTES)
            )
            good_body = json.dumps({"model": main_names[0], "input": texts[:2]}).encode()
            quiet = asyncio.run(soak_run(server, bodies, args.concurrency, args))
            hostile = asyncio.run(
                soak_run(server, bodies, args.concurrency, args, good_body, rotating=rotating, texts=texts)
            )
            after = rss_kib(server.process.pid)
            console.print(f"rotating over {n_rotate} adapters vs one adapter: merged copies vs merging off")
            rotation = merged_vs_unmerged(server, unmerged, rotating, "a0", texts, args)
    phases = {"quiet": phase_summary(quiet, good), "hostile": phase_summary(hostile, good)}
    groups = {kind: outcomes(statuses) for kind, statuses in sorted(hostile["groups"].items())}
    rot = hostile["rotating"]
    rotating_summary = {
        "requests": len(rot["statuses"]),
        "errors": sum(1 for s in rot["statuses"] if s != 200),
        **ms_percentiles(rot["latencies"]),
    }
    p99_ratio = phases["hostile"]["p99_ms"] / phases["quiet"]["p99_ms"]
    slow_ok = all(set(counts) <= {"served", "408"} for counts in groups.values())
    checks = {
        "no errors on good requests": all(p["good_errors"] == 0 for p in phases.values())
        and rotating_summary["errors"] == 0,
        "no 5xx": all(p["server_errors"] == 0 for p in phases.values())
        and all(int(k) < 500 for c in groups.values() for k in c if k.lstrip("-").isdigit()),
        "every slow client answered 408 or served": slow_ok,
        "good p99 with hostile clients within 2x": p99_ratio <= 2.0,
        # Not an acceptance line: two server processes with identical settings (no copy fitting in
        # either) measured 0.88-0.93x of each other here, more than the policy's effect. The merged-copy
        # policy is judged in one process, request by request: benchmarks/merged_copies.py.
    }
    report = {
        "settings": settings,
        **phases,
        "p99_ratio": p99_ratio,
        "slow_clients": groups,
        "rotating_clients": rotating_summary,
        "rss_kib": {"after_warmup": before, "after_soak": after, "growth": (after - before) / before},
        "merged_vs_unmerged": rotation,
        "acceptance": checks,
    }
    return soak_table(report), report


def soak_table(r: dict) -> Table:
    s, q, h = r["settings"], r["quiet"], r["hostile"]
    table = Table(
        title=f"serve_load --soak: {Path(s['model']).name}, {s['soak_requests']} requests x 2 phases, "
        f"{s['concurrency']} clients; hostile: {s['soak_slow']} slow-body, {s['soak_slow_headers']} slow-header, "
        f"{s['soak_rotating']} rotating"
    )
    for column in ("measure", "without hostile clients", "with hostile clients", "aim"):
        table.add_column(column)

    def both(fn) -> tuple[str, str]:
        return fn(q), fn(h)

    def latency(p):
        return f"{p['p50_ms']:.0f} / {p['p99_ms']:.0f} ms"

    g, rot, rss = r["slow_clients"], r["rotating_clients"], r["rss_kib"]
    rows = [
        ("requests / malformed / time",
         *both(lambda p: f"{p['requests']} / {p['malformed']} / {p['seconds']:.1f} s "
                         f"({p['requests'] / p['seconds']:.0f} req/s)"), ""),
        ("errors on good requests / 5xx (all)", *both(lambda p: f"{p['good_errors']} / {p['server_errors']}"), "0 / 0"),
        ("malformed answered 200 / refused by closing",
         *both(lambda p: f"{p['malformed_accepted']} / {p['malformed_closed']}, codes {p['malformed_codes']}"),
         "0 / -"),
        ("good request latency p50 / p99", *both(latency), ""),
        ("p99 with / without hostile clients", "", f"{r['p99_ratio']:.2f}x", "<= 2x"),
        ("slow bodies, trickled (within the request timeout)", "",
         show_outcomes(g.get("body-trickle", {}), "served"), "all served"),
        ("slow bodies, stalled (past the request timeout)", "",
         show_outcomes(g.get("body-stall", {}), "408"), "all 408"),
        ("slow headers, trickled (within the header timeout)", "",
         show_outcomes(g.get("header-trickle", {}), "served"), "all served"),
        ("slow headers, crawling (past the header timeout)", "",
         show_outcomes(g.get("header-crawl", {}), "408"), "all 408"),
        (f"rotating clients over {s['soak_rotate_adapters']} adapters ({s['soak_cache_copies']} copies fit): "
         "errors, p50 / p99", "", f"{rot['errors']} of {rot['requests']}, {latency(rot) if rot['requests'] else '-'}",
         "0"),
        ("server RSS after warm-up -> after both phases", "",
         f"{rss['after_warmup'] / 1024:.0f} -> {rss['after_soak'] / 1024:.0f} MiB ({rss['growth']:+.1%})", "< +10%"),
    ]  # fmt: skip
    for case, what, aim in (
        (
            "rotating",
            f"{s['soak_rotate_adapters']} adapters rotating, one request at a time",
            "informational: two processes differ by ~10%; see merged_copies.py",
        ),
        ("one", "one adapter, one request at a time", "informational"),
    ):
        m = r["merged_vs_unmerged"][case]
        rows.append(
            (f"{what}: merged copies / merging off (--merged-cache-mb 0)", "",
             f"{m['merged_texts_s']:.0f} / {m['unmerged_texts_s']:.0f} texts/s = {m['ratio']:.2f}x (copies: "
             + ", ".join(f"{k} {v:.0f}" for k, v in m["merged_copy_events"].items()) + ")", aim)
        )  # fmt: skip
    for row in rows:
        table.add_row(*row)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", help="A zoo name or model directory; 'tiny': a tiny random BERT built here (default: minilm; "
        "with --smoke, tiny)."
    )  # fmt: skip
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
    parser.add_argument("--json", type=Path, metavar="FILE", help="Also write the results to FILE as JSON.")
    soak_group = parser.add_argument_group("soak (defaults; --smoke: the short ones)")
    soak_group.add_argument("--soak", action="store_true", help="Run only the soak (see above).")
    soak_group.add_argument(
        "--smoke", action="store_true", help="The soak, short (seconds, tiny model unless --model): checks it runs."
    )
    flags = {
        "soak_requests": "Main-load requests per phase.",
        "soak_warmup": "Warm-up requests before the RSS baseline.",
        "soak_request_timeout_s": "The server's --request-timeout-s (stalled bodies get 408 after it).",
        "soak_header_timeout_s": "The server's --header-timeout-s (crawling headers get 408 after it).",
        "soak_slow": "Slow-body clients (half trickle, half stall).",
        "soak_slow_headers": "Slow-header clients (half in time, half crawling past the header timeout).",
        "soak_rotating": "Clients whose good requests rotate over --soak-rotate-adapters adapters.",
        "soak_cache_copies": "Merged model copies the server's --merged-cache-mb holds.",
        "soak_rotate_adapters": "Adapters the rotating clients cycle over (more than --soak-cache-copies).",
        "soak_rotate_requests": "Requests of --per-request texts per merged-vs-merging-off measurement.",
        "soak_rotate_rounds": "Interleaved rounds of that measurement (the median counts).",
    }
    for dest, help_text in flags.items():
        kind = type(SOAK_DEFAULTS[dest])
        soak_group.add_argument(
            "--" + dest.replace("_", "-"),
            type=kind,
            metavar="S" if kind is float else "N",
            help=f"{help_text.rstrip('.')} (default {SOAK_DEFAULTS[dest]}; --smoke {SMOKE[dest]}).",
        )
    args = parser.parse_args()
    args.soak = args.soak or args.smoke
    for dest in SOAK_DEFAULTS:
        if getattr(args, dest) is None:
            setattr(args, dest, (SMOKE if args.smoke else SOAK_DEFAULTS)[dest])
    args.model = args.model or ("tiny" if args.smoke else "minilm")
    args.concurrency = args.concurrency or (16 if args.soak else 8)
    if args.soak and args.soak_rotate_adapters <= args.soak_cache_copies:
        parser.error("--soak-rotate-adapters must exceed --soak-cache-copies (the rotation must not fit the cache)")
    global ENCODING_FORMAT
    ENCODING_FORMAT = args.encoding_format
    from cardiolora.evaluation import load_eval_set

    texts = load_eval_set("cardiology").sentences()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model == "tiny":
            from cardiolora.models.tiny import build_tiny_model

            model = str(build_tiny_model("bert", Path(tmp) / "tiny-bert"))
        if args.soak:
            started = time.perf_counter()
            table, report = soak(args, model, texts)
            console.print(table)
            failed = [check for check, ok in report["acceptance"].items() if not ok]
            console.print(f"acceptance: {'met' if not failed else 'NOT MET: ' + '; '.join(failed)}"
                          f" ({time.perf_counter() - started:.0f} s in all"
                          f"{'; --smoke: a check that it runs, not a measurement' if args.smoke else ''})")  # fmt: skip
        else:
            title, rows = default_run(args, model, texts)
            table = Table(title=title)
            for column in ("measure", "values", "ratio / change", "aim"):
                table.add_column(column)
            for row in rows:
                table.add_row(*row)
            console.print(table)
            report = {
                "title": title,
                "rows": [dict(zip(("measure", "values", "ratio", "aim"), r, strict=True)) for r in rows],
            }
    if args.json:
        import json

        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.json}")


def default_run(args, model: str, texts: list[str]) -> tuple[str, list[tuple[str, ...]]]:
    """Items 1-7 of the module docstring."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        console.print("making 8 random adapters")
        adapters = random_adapters(model, 8, Path(tmp))
        cardio = args.adapter or adapters["a0"]
        n, per, conc = args.requests, args.per_request, args.concurrency
        console.print("plain sentence-transformers fp32 on the base model (no server running)")
        plain = plain_sentence_transformers(model, texts, n, per)
        offline = separation_offline(model, cardio)
        extra = ["--max-batch", str(args.max_batch)] if args.max_batch else []
        extra += ["--precision", args.precision] if args.precision else []
        with Server(model, {"cardio": cardio, **adapters}, "torch", extra) as server:
            console.print("served: the adapter, the base model, 8 adapters mixed; latency; separation")
            adapter = throughput(server.url, ["cardio"], texts, n, per, conc)
            base = throughput(server.url, [model], texts, n, per, conc)
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
        with Server(model, {"cardio": cardio}, "onnx-int8") as server:
            int8_rate = throughput(server.url, ["cardio"], texts, n, per, conc)
            int8_separation = separation_via(server.url, "cardio")
        rows += [
            ratio_row("onnx-int8 / torch default, adapter", int8_rate, adapter, ""),
            change_row("separation, onnx-int8 - offline fp32", int8_separation, offline),
        ]
    title = f"serve_load: {args.model}, {args.requests} requests x {args.per_request} texts, {args.concurrency} clients"
    return title, rows


if __name__ == "__main__":
    main()
