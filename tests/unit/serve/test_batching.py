"""humanparse.serve.batching: requests that arrive together run as one batch, within bounds."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from humanparse.serve.batching import MicroBatcher, QueueFull  # noqa: E402


def run(coroutine):
    return asyncio.run(coroutine)


def test_requests_that_arrive_together_share_one_batch_in_order() -> None:
    seen: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        seen.append(list(items))
        return [2 * i for i in items]

    async def main() -> list[int]:
        batcher = MicroBatcher(double, max_batch=4, max_wait=0.2)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(i) for i in range(6)))
        finally:
            await batcher.stop()

    assert run(main()) == [0, 2, 4, 6, 8, 10]
    assert seen == [[0, 1, 2, 3], [4, 5]]  # bounded by max_batch, first come first served


def test_max_batch_one_runs_every_request_alone() -> None:
    sizes: list[int] = []

    async def main() -> None:
        batcher = MicroBatcher(lambda items: sizes.append(len(items)) or items, max_batch=1, max_wait=0.2)
        await batcher.start()
        await asyncio.gather(*(batcher.submit(i) for i in range(3)))
        assert (batcher.batches, batcher.items) == (3, 3)
        await batcher.stop()

    run(main())
    assert sizes == [1, 1, 1]


def test_a_full_queue_refuses_at_once_and_an_error_reaches_every_request_of_its_batch() -> None:
    release = threading.Event()

    def blocked(items: list[int]) -> list[int]:
        release.wait(5)
        if 99 in items:
            raise ValueError("bad item")
        return items

    async def main() -> None:
        batcher = MicroBatcher(blocked, max_batch=2, max_wait=0.0, max_queue=2)
        await batcher.start()
        running = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)  # taken into a batch: the worker is busy
        waiting = [asyncio.ensure_future(batcher.submit(i)) for i in (99, 3)]
        await asyncio.sleep(0.05)
        assert batcher.waiting == 2
        with pytest.raises(QueueFull):
            await batcher.submit(4)
        release.set()
        assert await running == 1
        for future in waiting:  # 99 and 3 ran together: both get the error
            with pytest.raises(ValueError, match="bad item"):
                await future
        assert await batcher.submit(5) == 5  # the worker goes on
        await batcher.stop()

    run(main())


def test_submit_before_start_and_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(list, max_batch=0)
    with pytest.raises(ValueError, match="max_wait"):
        MicroBatcher(list, max_wait=-1)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="not started"):
            await MicroBatcher(list).submit(1)

    run(main())
