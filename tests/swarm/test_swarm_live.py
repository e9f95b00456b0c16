"""Swarm nodepools against a real two-node swarm (scripts/start-swarm): the default engine
is the manager, the second engine a worker. Predictions go through the real ASGI server
and a real Celery worker; Swarm schedules, restarts and replaces the tasks."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments import actions as deployment_actions
from orchestration.deployments.containers import LABEL_INSTANCE
from orchestration.deployments.logs import read_log
from orchestration.deployments.models import Deployment, Replica, ReplicaState, ScalingDecision
from orchestration.deployments.tasks import autoscale_all, reconcile_deployment
from orchestration.docker_engine import swarm
from orchestration.nodepools import actions as nodepool_actions
from orchestration.nodepools import swarm_nodes
from orchestration.nodepools.models import Runtime
from tests.conftest import reconcile_until_ready, requires_docker, wait_for

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
MANAGER = "unix:///var/run/docker.sock"
SLOW_MODEL = Path(__file__).resolve().parent.parent / "fixtures" / "models" / "slow"


def _swarm_up() -> bool:
    try:
        swarm.manager(MANAGER)
        return len([n for n in swarm.nodes(MANAGER) if n.state == "ready"]) >= 2
    except docker_engine.EngineError:
        return False


@pytest.fixture
def swarm_pool(owner, make_cluster):
    if not _swarm_up():
        reason = "no two-node swarm on the default engine (scripts/start-swarm makes one)"
        if os.environ.get("REQUIRE_SWARM"):
            pytest.fail(reason)
        pytest.skip(reason)
    pool = nodepool_actions.create_nodepool(
        cluster=make_cluster(owner, "swarm"),
        slug="cpu",
        runtime=Runtime.SWARM,
        manager_url=MANAGER,
        cpu_cores=2,
        max_nodes=2,
    )
    swarm_nodes.sync(pool)
    yield pool
    for service in swarm.find_services(MANAGER, {LABEL_INSTANCE: settings.INSTANCE_ID}):
        swarm.remove_service(MANAGER, service.id)
    for node in swarm.nodes(MANAGER):
        if node.availability != "active":
            _availability(node.id, "active")


def _availability(node_id: str, value: str) -> None:
    subprocess.run(
        ["docker", "-H", MANAGER, "node", "update", "--availability", value, node_id],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def key(owner):
    return AccessToken.issue(owner, "swarm")[1]


def _until_ready(dep, n: int) -> None:
    """reconcile_until_ready, saying on a timeout what the replicas and tasks were."""
    try:
        reconcile_until_ready(dep, n, timeout=180)
    except AssertionError as exc:
        rows = list(dep.replicas.values_list("pk", "state", "node__name", "pending_reason"))
        tasks = [
            (t.node_id[:6], t.state, t.desired_state, t.error)
            for s in swarm.find_services(MANAGER, {LABEL_INSTANCE: settings.INSTANCE_ID})
            for t in swarm.tasks(MANAGER, s.id)
        ]
        events = list(dep.events.values_list("kind", "message")[:10])
        raise AssertionError(f"{exc}; replicas {rows}; tasks {tasks}; events {events}") from None


def _ready(dep) -> list[Replica]:
    return list(Replica.objects.filter(deployment=dep, state=ReplicaState.READY))


class Load:
    """Predictions in four threads until stopped: which replicas served, what failed."""

    def __init__(
        self, url: str, key: str, deployment: Deployment, *, text="What a lovely day", clients=4
    ):
        self.url = f"{url}/v2/users/me/deployments/{deployment.slug}/outputs"
        self.headers = {"Authorization": f"Key {key}"}
        self.text = text
        self.served: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        body = {"inputs": [{"data": {"text": {"raw": self.text}}}]}
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                r = client.post(self.url, headers=self.headers, json=body)
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} {r.text[:300]}")
                self.served.append(r.headers.get("x-replica", ""))
                # Under the key's rate limit (500 a second) however fast the replicas are.
                self._stop.wait(0.01)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        wait_for(lambda: len(self.served) > 5, timeout=60, message="first answers")
        return self

    def more(self, n: int = 40, timeout: float = 60) -> None:
        count = len(self.served)
        wait_for(lambda: len(self.served) >= count + n, timeout=timeout, message="answers")

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def test_replicas_spread_over_both_nodes_and_serve_predictions(
    asgi_server, key, swarm_pool, owner, version_from_example, make_deployment
):
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, swarm_pool, slug="spread", min_replicas=2)
    _until_ready(dep, 2)
    ready = _ready(dep)
    assert len({r.node_id for r in ready}) == 2, "one task on each node"
    assert {r.node.swarm_node_id for r in ready} == {n.id for n in swarm.nodes(MANAGER)}
    assert all(r.task_id and r.address.endswith(tuple("0123456789")) for r in ready)
    with Load(asgi_server, key, dep) as load:
        load.more(40)
    assert load.failures == []
    assert {str(r.pk) for r in ready} <= set(load.served), "both tasks answered"
    assert _service_replicas() == 2
    # Each task's log, read from its own node's engine (the orchestration.engine label).
    for replica in ready:
        log = read_log(replica)
        assert log.error == "" and log.lines, replica.node.name


def test_deleting_a_deployment_removes_its_service(
    celery_worker_process, swarm_pool, owner, version_from_example, make_deployment
):
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, swarm_pool, slug="gone", min_replicas=1)
    _until_ready(dep, 1)
    deployment_actions.request_delete(dep)
    wait_for(lambda: not Deployment.objects.filter(pk=dep.pk).exists(), timeout=60)
    assert swarm.find_services(MANAGER, {LABEL_INSTANCE: settings.INSTANCE_ID}) == []


def test_the_autoscaler_scales_the_service_up_under_load_and_down_after(
    asgi_server, key, swarm_pool, owner, version_from_example, make_deployment
):
    model, version = version_from_example(owner, SLOW_MODEL)
    dep = make_deployment(
        owner,
        model,
        version,
        swarm_pool,
        slug="elastic",
        min_replicas=1,
        max_replicas=3,
        target_concurrency=1,
        scale_up_delay_seconds=2,
        scale_down_delay_seconds=3,
        traffic_history_seconds=6,
    )
    _until_ready(dep, 1)
    ticking = threading.Event()
    ticking.set()

    def autoscaler():
        from django.db import connection

        try:
            while ticking.is_set():
                autoscale_all()  # as beat runs it, once a second here
                time.sleep(1)
        finally:
            connection.close()

    tick = threading.Thread(target=autoscaler, daemon=True)
    tick.start()
    try:
        # Three clients each hold a 0.5 s request in flight: 3 in flight, target 1.
        with Load(asgi_server, key, dep, text="0.5", clients=3) as load:
            wait_for(lambda: len(_ready(dep)) == 3, timeout=180, message="three under load")
            assert _service_replicas() == 3
        assert load.failures == []
        wait_for(lambda: len(_ready(dep)) == 1, timeout=180, message="back to one replica")
        wait_for(lambda: _service_replicas() == 1, timeout=30, message="the service at one")
    finally:
        ticking.clear()
        tick.join()
    assert ScalingDecision.objects.filter(deployment=dep, applied=3).exists()


def _service_replicas() -> int:
    (service,) = swarm.find_services(MANAGER, {LABEL_INSTANCE: settings.INSTANCE_ID})
    return service.replicas


def test_a_version_change_rolls_with_no_failed_request(
    asgi_server, key, swarm_pool, owner, version_from_example, make_deployment
):
    model, v1 = version_from_example(owner, "sentiment")
    _, v2 = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, v1, swarm_pool, slug="roll", min_replicas=2)
    _until_ready(dep, 2)
    with Load(asgi_server, key, dep) as load:
        Deployment.objects.filter(pk=dep.pk).update(model_version=v2)
        reconcile_deployment.delay(dep.pk)
        wait_for(
            lambda: (
                sorted(r.model_version_id for r in _ready(dep)) == [v2.pk, v2.pk]
                and not dep.replicas.filter(state=ReplicaState.DRAINING).exists()
            ),
            timeout=180,
            message="both tasks on v2",
        )
        load.more(40)
    assert load.failures == []


def test_a_killed_task_is_replaced_with_no_failed_request(
    asgi_server, key, swarm_pool, owner, version_from_example, make_deployment
):
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, swarm_pool, slug="kill", min_replicas=2)
    _until_ready(dep, 2)
    victim = _ready(dep)[0]
    with Load(asgi_server, key, dep) as load:
        docker_engine.kill(victim.node.engine_url, victim.container_id)
        wait_for(
            lambda: len([r for r in _ready(dep) if r.pk != victim.pk]) == 2,
            timeout=120,
            message="a replacement task ready",
        )
        load.more(40)
    assert load.failures == []
    victim.refresh_from_db()
    assert victim.state in (ReplicaState.FAILED, ReplicaState.STOPPED)


def test_draining_a_node_moves_its_tasks_with_no_failed_request(
    asgi_server, key, swarm_pool, owner, version_from_example, make_deployment
):
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, swarm_pool, slug="drain", min_replicas=2)
    _until_ready(dep, 2)
    worker = next(n for n in swarm.nodes(MANAGER) if n.role == "worker")
    with Load(asgi_server, key, dep) as load:
        _availability(worker.id, "drain")
        reconcile_deployment.delay(dep.pk)
        wait_for(
            lambda: (
                [r.node.swarm_node_id for r in _ready(dep)] == [swarm.manager(MANAGER).node_id] * 2
            ),
            timeout=180,
            message="both tasks on the manager",
        )
        load.more(40)
    assert load.failures == []
    assert Counter(r.node.availability for r in _ready(dep)) == {"active": 2}
