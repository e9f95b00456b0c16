"""A small async cache for the predict path's lookups: serve stale while one task refreshes.

The router keeps keys, targets and ready replicas in memory for a few seconds. When such an
entry expired, every request in flight used to await its own database lookup; on one
sync thread those ran one after another, and all sixteen connections of a load test
stalled for 50-100 ms every couple of seconds (the router's p99 was that stall). Here an
expired entry is still answered while a single background task reloads it; only a key
never seen (or dropped) waits, and concurrent waiters share one load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RefreshingCache(Generic[K, V]):
    """`ttl` in seconds, or a function returning it (a setting read each time); 0 or less
    turns caching off: every get waits for its own load. An entry is served stale for at
    most another ttl; older, its get waits for the load."""

    def __init__(self, ttl: float | Callable[[], float]) -> None:
        self._ttl = ttl if callable(ttl) else (lambda: ttl)
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future] = {}
        # Bumped by forget(): a load that started before it must not store its answer.
        self._generation: dict[K, int] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]], *, fresh: bool = False) -> V:
        """The value for key, from `load()` when it must be (re)loaded; `fresh` waits for
        a load that starts now or is under way."""
        ttl = self._ttl()
        if ttl <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and not fresh:
            expired_for = time.monotonic() - entry[0]
            if expired_for <= 0:
                return entry[1]
            if expired_for <= ttl:
                self._start_load(key, load, ttl)
                return entry[1]
            # Unused for a while (a key in steady use is reloaded every ttl): the answer
            # may be long wrong (a deployment deleted and made again under its name).
        return await asyncio.shield(self._start_load(key, load, ttl))

    def forget(self, key: K | None = None) -> None:
        """Drop one key (or all): its next get waits for a load. Safe from any thread."""
        if key is None:
            for k in list(self._entries):
                self.forget(k)
            return
        self._generation[key] = self._generation.get(key, 0) + 1
        self._entries.pop(key, None)

    def _start_load(self, key: K, load, ttl: float) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        running = self._loading.get(key)
        if running is not None and not running.done() and running.get_loop() is loop:
            return running
        future = loop.create_task(self._run(key, load, ttl, self._generation.get(key, 0)))
        future.add_done_callback(_retrieve)
        self._loading[key] = future
        return future

    async def _run(self, key: K, load, ttl: float, generation: int) -> V:
        try:
            value = await load()
        except BaseException:
            # The next request loads in its own time and sees the error itself.
            self._entries.pop(key, None)
            raise
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]
        if self._generation.get(key, 0) == generation:
            self._entries[key] = (time.monotonic() + ttl, value)
        return value


def _retrieve(future: asyncio.Future) -> None:
    """A background refresh nobody awaited failed: say so at debug level, not as asyncio's
    "exception was never retrieved"."""
    if not future.cancelled() and future.exception() is not None:
        log.debug("background refresh failed: %s", future.exception())
