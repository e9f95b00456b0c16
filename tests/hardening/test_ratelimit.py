"""orchestration.ratelimit: token buckets per key, in process and shared through Redis."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from orchestration import ratelimit
from orchestration.ratelimit import Bucket, RateLimiter

REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL (the test command does)")


def test_bucket_allows_a_burst_then_the_rate():
    bucket = Bucket(rate=2.0, burst=3.0, tokens=3.0, stamp=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0  # one token back after 1/rate seconds
    assert bucket.take(0.5) > 0
    assert bucket.take(100.0) == 0.0  # refills, capped at the burst
    assert bucket.tokens == pytest.approx(2.0)


def test_in_process_limiter_counts_per_key():
    limiter = RateLimiter("t", rate=1.0, burst=2.0)
    assert limiter.check("a") is None and limiter.check("a") is None
    wait = limiter.check("a")
    assert wait is not None and 0 < wait <= 1.0
    assert ratelimit.retry_after(wait) == "1"
    assert limiter.check("b") is None
    assert RateLimiter("off", rate=0, burst=1).check("a") is None


def _keys():
    return f"k-{uuid.uuid4().hex}"


@needs_redis
def test_redis_bucket_is_shared_between_processes():
    # Two limiters stand for two web processes: together they get the burst, not twice it.
    key = _keys()
    first = RateLimiter("shared-test", rate=0.5, burst=4.0, redis_url=REDIS_URL)
    second = RateLimiter("shared-test", rate=0.5, burst=4.0, redis_url=REDIS_URL)
    allowed = [lim.check(key) is None for lim in (first, second) * 4]
    assert allowed.count(True) == 4, allowed
    assert first.check(key) is not None and second.check(key) is not None


@needs_redis
def test_redis_tokens_are_taken_in_batches():
    # rate 100/s: a batch is a tenth of a second's allowance, so ten requests cost one
    # Redis round trip.
    limiter = RateLimiter("batch-test", rate=100.0, burst=200.0, redis_url=REDIS_URL)
    assert limiter.batch == 10
    calls = []
    real = limiter._shared_take

    def counted(key):
        calls.append(key)
        return real(key)

    limiter._shared_take = counted
    key = _keys()
    assert all(limiter.check(key) is None for _ in range(30))
    assert len(calls) == 3


@needs_redis
def test_async_check_and_refusals_remembered_locally():
    limiter = RateLimiter("async-test", rate=1.0, burst=1.0, redis_url=REDIS_URL)
    key = _keys()

    async def run():
        return [await limiter.acheck(key) for _ in range(3)]

    first, second, third = asyncio.run(run())
    assert first is None and second is not None and third is not None
    # The third was refused from memory, without asking Redis.
    assert third <= second


def test_unreachable_redis_falls_back_to_a_local_bucket(caplog):
    limiter = RateLimiter("down", rate=1.0, burst=2.0, redis_url="redis://127.0.0.1:1/0")
    assert limiter.check("a") is None and limiter.check("a") is None
    assert limiter.check("a") is not None
    assert "Redis unavailable" in caplog.text
