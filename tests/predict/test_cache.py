"""The predict path's lookup cache: one load per key at a time, stale served while it runs."""

from __future__ import annotations

import asyncio

import pytest

from orchestration.predict.cache import RefreshingCache


class Loads:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> int:
        self.calls += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return self.calls


def test_concurrent_misses_share_one_load():
    async def go():
        cache, load = RefreshingCache(60), Loads()
        waiters = [asyncio.ensure_future(cache.get("k", load)) for _ in range(16)]
        await asyncio.sleep(0)
        load.gate.set()
        assert await asyncio.gather(*waiters) == [1] * 16
        assert load.calls == 1

    asyncio.run(go())


def test_an_expired_entry_is_served_while_one_task_reloads_it():
    async def go():
        cache, load = RefreshingCache(0.05), Loads()
        load.gate.set()
        assert await cache.get("k", load) == 1
        await asyncio.sleep(0.06)
        load.gate.clear()
        # Expired: every caller gets the old value at once; one reload runs behind them.
        assert [await cache.get("k", load) for _ in range(10)] == [1] * 10
        await asyncio.sleep(0)
        assert load.calls == 2
        load.gate.set()
        await asyncio.sleep(0.001)
        assert await cache.get("k", load) == 2

    asyncio.run(go())


def test_an_entry_long_expired_is_not_served_stale():
    async def go():
        cache, load = RefreshingCache(0.01), Loads()
        load.gate.set()
        assert await cache.get("k", load) == 1
        await asyncio.sleep(0.03)  # past ttl + ttl: unused that long, it may be wrong
        assert await cache.get("k", load) == 2

    asyncio.run(go())


def test_fresh_waits_and_forget_drops_an_answer_that_was_under_way():
    async def go():
        cache, load = RefreshingCache(60), Loads()
        load.gate.set()
        await cache.get("k", load)
        assert await cache.get("k", load, fresh=True) == 2
        load.gate.clear()
        stale = asyncio.ensure_future(cache.get("k", load, fresh=True))
        await asyncio.sleep(0)
        cache.forget("k")  # e.g. Redis said the replicas changed meanwhile
        load.gate.set()
        assert await stale == 3
        assert await cache.get("k", load) == 4, "the answer from before forget was not kept"

    asyncio.run(go())


def test_a_failed_load_reaches_its_waiters_and_is_not_cached(caplog):
    async def go():
        cache, load = RefreshingCache(0.05), Loads()
        load.gate.set()
        await cache.get("k", load)
        await asyncio.sleep(0.06)
        load.fail = RuntimeError("database down")
        assert await cache.get("k", load) == 1  # stale, while the reload fails behind it
        await asyncio.sleep(0.001)
        with pytest.raises(RuntimeError, match="database down"):
            await cache.get("k", load)
        load.fail = None
        assert await cache.get("k", load) == 4

    asyncio.run(go())
    assert "never retrieved" not in caplog.text


def test_a_ttl_of_zero_loads_every_time():
    async def go():
        cache, load = RefreshingCache(lambda: 0), Loads()
        load.gate.set()
        assert [await cache.get("k", load) for _ in range(3)] == [1, 2, 3]

    asyncio.run(go())
