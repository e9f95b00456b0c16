"""Per-key request rate limits: a token bucket per access key, shared across web processes.

Each key may send `rate` requests per second on average and `burst` at once. Without
Redis every process keeps its own buckets (the limit then holds per process). With
`REDIS_URL` the bucket lives in Redis, updated by one atomic Lua script, so every web
process draws on the same allowance.

The predict path must stay fast, so a process does not ask Redis per request: it takes
tokens from the shared bucket in batches (a tenth of a second's allowance, at most a
quarter of the burst; one token at low rates) and spends them locally. Most requests are
decided in memory; one request in a batch pays the round trip. Tokens a process took but
did not spend within a second are dropped, so a key spread over several processes may get
slightly less than its rate, never more. A refusal is remembered locally until the shared
bucket could have refilled, so a flood of refused requests costs Redis nothing. When Redis
cannot be reached the process falls back to its own buckets rather than refuse or allow
everything.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Unspent tokens taken from the shared bucket are given up after this long.
LEASE_SECONDS = 1.0
# Buckets idle this long are full again, hence the same as absent: prune them.
_PRUNE_EVERY = 1000

# KEYS[1]: the bucket (a hash of tokens and the time they were counted).
# ARGV: rate per second, burst, tokens wanted. Redis' own clock, so hosts need not agree.
# Returns {tokens granted, milliseconds until one token is there}.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ms')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate / 1000)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ms', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if granted == 0 then
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
return {granted, wait}
"""


@dataclass
class Bucket:
    """A token bucket in this process: `rate` tokens per second, holding at most `burst`."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is there."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class _Lease:
    tokens: int = 0
    expires: float = 0.0
    blocked_until: float = 0.0


@dataclass
class RateLimiter:
    """`check(key)` -> None when allowed, else the seconds to wait (for Retry-After).

    rate <= 0 turns the limit off.
    """

    name: str
    rate: float
    burst: float
    redis_url: str = ""
    _buckets: dict[str, Bucket] = field(default_factory=dict)
    _leases: dict[str, _Lease] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: object = None
    _script: object = None
    _redis_down_until: float = 0.0
    _calls: int = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def batch(self) -> int:
        return max(1, min(int(self.rate / 10), int(self.burst / 4)))

    def check(self, key: str) -> float | None:
        if not self.enabled:
            return None
        decided, lease = self._local(key)
        if decided is not _ASK_REDIS:
            return decided
        try:
            granted, wait_ms = self._shared_take(key)
        except Exception as exc:  # noqa: BLE001 - Redis trouble must not refuse or crash
            return self._redis_failed(key, exc)
        return self._settle(lease, granted, wait_ms)

    async def acheck(self, key: str) -> float | None:
        """check() for the event loop: the Redis call, once per batch, runs in a thread."""
        if not self.enabled:
            return None
        decided, lease = self._local(key)
        if decided is not _ASK_REDIS:
            return decided
        try:
            granted, wait_ms = await asyncio.to_thread(self._shared_take, key)
        except Exception as exc:  # noqa: BLE001 - Redis trouble must not refuse or crash
            return self._redis_failed(key, exc)
        return self._settle(lease, granted, wait_ms)

    def reset(self) -> None:
        """Forget every bucket in this process (tests, and a changed setting)."""
        with self._lock:
            self._buckets.clear()
            self._leases.clear()
            self._redis_down_until = 0.0

    # --- inside ---------------------------------------------------------------------

    def _local(self, key: str):
        """Decide in memory when possible; _ASK_REDIS when the shared bucket must say."""
        now = time.monotonic()
        with self._lock:
            self._calls += 1
            if self._calls % _PRUNE_EVERY == 0:
                self._prune(now)
            if not self.redis_url or now < self._redis_down_until:
                return self._take_local(key, now), None
            lease = self._leases.get(key)
            if lease is None:
                lease = self._leases[key] = _Lease()
            if now < lease.blocked_until:
                return lease.blocked_until - now, lease
            if lease.tokens > 0 and now < lease.expires:
                lease.tokens -= 1
                return None, lease
            lease.tokens = 0
            return _ASK_REDIS, lease

    def _take_local(self, key: str, now: float) -> float | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.rate, self.burst, self.burst, now)
        wait = bucket.take(now)
        return wait or None

    def _settle(self, lease: _Lease, granted: int, wait_ms: int) -> float | None:
        now = time.monotonic()
        with self._lock:
            if granted > 0:
                lease.tokens += granted - 1
                lease.expires = now + LEASE_SECONDS
                return None
            wait = max(wait_ms / 1000, 0.001)
            lease.blocked_until = now + wait
            return wait

    def _shared_take(self, key: str) -> tuple[int, int]:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._script = self._client.register_script(_LUA)
        granted, wait_ms = self._script(
            keys=[f"ratelimit:{self.name}:{key}"], args=[self.rate, self.burst, self.batch]
        )
        return int(granted), int(wait_ms)

    def _redis_failed(self, key: str, exc: Exception) -> float | None:
        log.warning("rate limit %s: Redis unavailable, limiting per process: %s", self.name, exc)
        now = time.monotonic()
        with self._lock:
            # Do not retry Redis on every request while it is down.
            self._redis_down_until = now + 5.0
            return self._take_local(key, now)

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key, bucket in list(self._buckets.items()):
            if now - bucket.stamp > full_after:
                del self._buckets[key]
        for key, lease in list(self._leases.items()):
            if now > lease.expires and now > lease.blocked_until:
                del self._leases[key]


_ASK_REDIS = object()


def retry_after(wait: float) -> str:
    """Retry-After is whole seconds; round up so a client that obeys it is let in."""
    return str(max(1, math.ceil(wait)))


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter(name: str) -> RateLimiter:
    """The process-wide limiter `name` ("predict" or "api"), built from the settings.

    Rebuilt when the settings change (tests change them), so it never runs on stale ones.
    """
    from django.conf import settings

    if name == "predict":
        rate, burst = settings.PREDICT_RATE_LIMIT, settings.PREDICT_RATE_BURST
    elif name == "api":
        rate, burst = settings.API_RATE_LIMIT, settings.API_RATE_BURST
    else:
        raise KeyError(name)
    redis_url = settings.REDIS_URL
    current = _limiters.get(name)
    if (
        current is not None
        and current.rate == rate
        and current.burst == burst
        and current.redis_url == redis_url
    ):
        return current
    with _limiters_lock:
        current = _limiters[name] = RateLimiter(name, rate, max(burst, 1.0), redis_url)
    return current
