"""Replica log tests: the API's key fixtures, and a deployment with replicas whose
engine boundary (`docker_engine.container_log`) answers what a test says."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orchestration import docker_engine
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.docker_engine import LogLine
from tests.api.support import (  # noqa: F401 - fixtures
    anon_api,
    fast_password_hasher,
    other_api,
    other_key,
    owner_api,
    owner_key,
    queued_tasks,
)

BASE_NS = 1_796_338_823_000_000_000  # 2026-12-03T23:00:23Z


@pytest.fixture
def engine(monkeypatch):
    """The engine's logs by container id: a list of lines, or an exception to raise.
    Records each call's arguments."""
    state = SimpleNamespace(logs={}, calls=[])

    def container_log(url, container_id, *, tail=200, since_ns=0, timeout=3.0, tls=None):
        state.calls.append(
            {"url": url, "id": container_id, "tail": tail, "since_ns": since_ns, "timeout": timeout}
        )
        answer = state.logs.get(container_id, docker_engine.NotFoundError(url, "No such container"))
        if isinstance(answer, Exception):
            raise answer
        lines = [line for line in answer if line.at_ns > since_ns]
        return lines if tail is None else lines[-tail:]

    def container_log_bytes(url, container_id, *, timeout=3.0, tls=None):
        every = container_log(url, container_id, tail=None, timeout=timeout)
        return "".join(f"{line.at} {line.text}\n" for line in every).encode()

    monkeypatch.setattr(docker_engine, "container_log", container_log)
    monkeypatch.setattr(docker_engine, "container_log_bytes", container_log_bytes)
    return state


def lines(*texts: str, start: int = 0) -> list[LogLine]:
    return [LogLine(BASE_NS + (start + i) * 1_000_000, text) for i, text in enumerate(texts)]


@pytest.fixture
def logged(owner, make_cluster, make_nodepool, make_node, make_model, make_deployment):
    """Deployment `dep` with a ready replica on node-1, a failed one whose container
    remains, a stopped one whose container is gone and a pending one."""
    pool = make_nodepool(make_cluster(owner))
    node = make_node(pool, "node-1")
    model, version = make_model(owner)
    dep = make_deployment(owner, model, version, pool, slug="dep")

    def replica(state, container_id=""):
        return Replica.objects.create(
            deployment=dep,
            model_version=version,
            node=node if container_id else None,
            container_id=container_id,
            state=state,
        )

    return SimpleNamespace(
        deployment=dep,
        node=node,
        ready=replica(ReplicaState.READY, "c-ready"),
        failed=replica(ReplicaState.FAILED, "c-failed"),
        stopped=replica(ReplicaState.STOPPED, "c-stopped"),
        pending=replica(ReplicaState.PENDING),
    )
