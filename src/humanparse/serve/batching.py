"""Requests that arrive together, run as one batch.

:class:`MicroBatcher` keeps a bounded queue of waiting requests on the server's event loop.
Its worker takes the first request, waits at most ``max_wait`` seconds for others (up to
``max_batch`` in all), and runs the batch in one worker thread, so the event loop keeps
accepting requests while the network runs and the model is only ever used by one thread.
With ``max_batch=1`` nothing waits: each request is its own pass (batching off).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from .._checks import positive_int

Item = TypeVar("Item")
Result = TypeVar("Result")


class QueueFull(Exception):
    """The batcher's queue holds ``max_queue`` waiting requests already."""


class MicroBatcher(Generic[Item, Result]):
    """Batches of at most ``max_batch`` items for ``run`` (a blocking function returning one
    result per item, in order), gathered for at most ``max_wait`` seconds after the first.
    ``submit`` raises :class:`QueueFull` when ``max_queue`` items already wait."""

    def __init__(
        self, run: Callable[[list[Item]], Sequence[Result]], max_batch: int = 8, max_wait: float = 0.01,
        max_queue: int = 32,
    ) -> None:
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {max_wait}")
        self.run = run
        self.max_batch = positive_int("max_batch", max_batch)
        self.max_queue = positive_int("max_queue", max_queue)
        self.max_wait = float(max_wait)
        self._waiting: deque[tuple[Item, asyncio.Future]] = deque()
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.batches = 0  # passes run so far
        self.items = 0  # items run so far

    @property
    def waiting(self) -> int:
        """Requests in the queue, not yet in a running batch."""
        return len(self._waiting)

    async def start(self) -> None:
        """Start the worker on the running event loop."""
        if self._worker is not None:
            return
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="humanparse-batch")
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Stop the worker; requests still waiting fail with a RuntimeError."""
        if self._worker is None:
            return
        self._worker.cancel()
        try:
            await self._worker
        except asyncio.CancelledError:
            pass
        self._worker = None
        while self._waiting:
            _, future = self._waiting.popleft()
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))
        assert self._executor is not None
        self._executor.shutdown(wait=True)
        self._executor = None

    async def submit(self, item: Item) -> Result:
        """The result of ``run`` for ``item``, run in a batch with the items that arrive with it."""
        if self._worker is None or self._arrived is None:
            raise RuntimeError("the batcher is not started (MicroBatcher.start)")
        if len(self._waiting) >= self.max_queue:
            raise QueueFull(f"{self.max_queue} requests are waiting already")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._arrived.set()
        return await future

    async def _next_batch(self) -> list[tuple[Any, asyncio.Future]]:
        assert self._arrived is not None
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(self._waiting) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:  # the builtin one from Python 3.11
                break
        count = min(self.max_batch, len(self._waiting))
        batch = [self._waiting.popleft() for _ in range(count)]
        return [(item, future) for item, future in batch if not future.done()]  # a gone client's is done

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.run, [item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"the batch function gave {len(results)} results for {len(batch)} items")
            except Exception as error:  # every request of the batch gets it; the worker goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            self.items += len(batch)
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)


__all__ = ["MicroBatcher", "QueueFull"]
