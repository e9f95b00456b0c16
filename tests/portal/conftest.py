"""Portal test fixtures: Celery enqueues recorded instead of sent, and a small world."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest


@dataclass
class Queued:
    """Tasks the views queued (after commit), as (task name, args)."""

    calls: list[tuple[str, tuple]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class _FakeTask:
    def __init__(self, name: str, queued: Queued) -> None:
        self.name, self.queued = name, queued

    def delay(self, *args, **kwargs) -> None:
        self.queued.calls.append((self.name, args))


@pytest.fixture(autouse=True)
def queued(monkeypatch) -> Queued:
    """No broker, no Docker: the views' tasks are looked up at call time, so replacing the
    module attributes catches every enqueue."""
    from orchestration.deployments import tasks as deployment_tasks
    from orchestration.nodepools import tasks as nodepool_tasks

    record = Queued()
    for module, name in (
        (deployment_tasks, "reconcile_deployment"),
        (deployment_tasks, "delete_deployment"),
        (nodepool_tasks, "probe_node"),
    ):
        monkeypatch.setattr(module, name, _FakeTask(name, record))
    return record


@dataclass
class World:
    cluster: object
    nodepool: object
    model: object
    version: object


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_model) -> World:
    """The owner's cluster `east` with nodepool `cpu`, and a model `sentiment` (v1 ready)."""
    cluster = make_cluster(owner, "east")
    nodepool = make_nodepool(cluster, "cpu")
    model, version = make_model(owner, "sentiment", description="Text sentiment")
    return World(cluster, nodepool, model, version)


@pytest.fixture
def shared_nodepool(db):
    from orchestration.nodepools.shared import ensure_shared_compute

    return ensure_shared_compute()
