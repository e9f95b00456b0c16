"""The runner settings a replica container gets from its deployment and version."""

from __future__ import annotations

import pytest

from orchestration.deployments.containers import replica_environment


def test_concurrency_only_without_batching():
    assert replica_environment(4, {"model": {"id": "m"}}) == {"MODEL_CONCURRENCY": "4"}
    assert replica_environment(0, {}) == {"MODEL_CONCURRENCY": "1"}


@pytest.mark.parametrize(
    ("batching", "size", "wait"),
    [
        ({"max_batch_size": 32, "max_wait_ms": 5}, "32", "5"),
        ({"max_batch_size": 8, "max_wait_ms": 2.5}, "8", "2.5"),
        ({"max_batch_size": 1, "max_wait_ms": 0}, "1", "0"),
    ],
)
def test_batching_from_the_version_config(batching, size, wait):
    env = replica_environment(2, {"model": {"id": "m"}, "batching": batching})
    assert env == {"MODEL_CONCURRENCY": "2", "BATCH_MAX_SIZE": size, "BATCH_MAX_WAIT_MS": wait}


@pytest.mark.parametrize(
    "config",
    [
        {"batching": None},
        {"batching": "32"},
        {"batching": {"max_batch_size": "32", "max_wait_ms": 5}},
        {"batching": {"max_batch_size": 32}},
        {"batching": {"max_batch_size": True, "max_wait_ms": 5}},
        None,
    ],
)
def test_unusable_stored_batching_is_left_out(config):
    assert replica_environment(3, config) == {"MODEL_CONCURRENCY": "3"}
