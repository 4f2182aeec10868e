"""Micro-batching: requests that arrive within a short window are encoded together, grouped by
model (base or adapter) inside the batch, on one worker thread that owns the model. The queue in
front of it is bounded: a full queue refuses new requests at once (:class:`QueueFull`) rather than
letting them wait longer than any client would."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


@dataclass
class _Item:
    texts: list[str]
    name: str
    future: asyncio.Future


class QueueFull(Exception):
    """The batcher already holds ``max_queue`` requests waiting for the encoder."""


def _deliver(items: list[_Item], vectors: np.ndarray) -> None:
    """Hand each waiting request its rows of ``vectors`` (rows are in the items' order)."""
    offset = 0
    for item in items:
        if not item.future.done():
            item.future.set_result(vectors[offset : offset + len(item.texts)])
        offset += len(item.texts)


class MicroBatcher:
    """Collects requests for up to ``window_ms`` (or ``max_batch`` texts), then encodes each
    model's texts in one call. ``encode(texts, name)`` runs on a single thread: a torch model must
    not switch adapters under a running forward pass.

    At most ``max_queue`` requests wait (``None``: no bound); :meth:`submit` raises
    :class:`QueueFull` beyond. A request whose caller stopped waiting (a timeout cancelled its
    future) is dropped from the queue unencoded.
    """

    def __init__(
        self,
        encode: Callable[[list[str], str], np.ndarray],
        *,
        window_ms: float = 5.0,
        max_batch: int = 64,
        on_batch: Callable[[int, int, float], None] | None = None,
        encode_mixed: Callable[[list[str], list[str]], np.ndarray] | None = None,
        max_queue: int | None = None,
    ) -> None:
        self.encode = encode
        self.encode_mixed = encode_mixed
        self.window = window_ms / 1000.0
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.on_batch = on_batch or (lambda texts, groups, seconds: None)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cardiolora-encode")
        self.queue: asyncio.Queue[_Item | None] | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        # One slot more than max_queue: stop()'s sentinel must never wait behind a full queue.
        self.queue = asyncio.Queue(maxsize=self.max_queue + 1 if self.max_queue else 0)
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish everything queued, then stop."""
        if self.queue is not None and self.task is not None:
            await self.queue.put(None)
            await self.task
        self.executor.shutdown(wait=True)

    async def run_exclusive(self, function: Callable, *args):
        """Run ``function`` on the encoding thread (adapter loads must not race an encode)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def submit(self, texts: list[str], name: str) -> np.ndarray:
        assert self.queue is not None, "start() the batcher first"
        if self.max_queue and self.queue.qsize() >= self.max_queue:
            raise QueueFull(f"{self.queue.qsize()} requests are waiting for the encoder")
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Item(texts, name, future))
        return await future

    def waiting(self) -> int:
        """Requests in the queue (not yet in a batch)."""
        return self.queue.qsize() if self.queue is not None else 0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self.queue.get()
            if first is None:
                break
            if first.future.done():  # its caller gave up while it queued
                continue
            batch, size = [first], len(first.texts)
            deadline = loop.time() + self.window
            while size < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
                if item is None:
                    stopping = True
                    break
                if item.future.done():
                    continue
                batch.append(item)
                size += len(item.texts)
            await self._encode_batch(batch, loop)
        # Drain what was queued before the stop signal.
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not None:
                await self._encode_batch([item], loop)

    async def _encode_together(self, batch: list[_Item], loop) -> None:
        texts = [t for item in batch for t in item.texts]
        names = [item.name for item in batch for _ in item.texts]
        try:
            vectors = await loop.run_in_executor(self.executor, self.encode_mixed, texts, names)
        except Exception:
            for name in dict.fromkeys(item.name for item in batch):
                await self._encode_batch([item for item in batch if item.name == name], loop)
            return
        _deliver(batch, vectors)

    async def _encode_batch(self, batch: list[_Item], loop) -> None:
        batch = [item for item in batch if not item.future.done()]
        if not batch:
            return
        groups: dict[str, list[_Item]] = defaultdict(list)
        for item in batch:
            groups[item.name].append(item)
        started = time.perf_counter()
        if self.encode_mixed is not None and len(groups) > 1:
            # One forward pass for every model of the batch (rows carry their adapter).
            await self._encode_together(batch, loop)
            self.on_batch(sum(len(i.texts) for i in batch), len(groups), time.perf_counter() - started)
            return
        for name, items in groups.items():
            texts = [t for item in items for t in item.texts]
            try:
                vectors = await loop.run_in_executor(self.executor, self.encode, texts, name)
            except Exception as exc:
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            _deliver(items, vectors)
        self.on_batch(sum(len(i.texts) for i in batch), len(groups), time.perf_counter() - started)
