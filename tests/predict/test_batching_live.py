"""Dynamic batching through the whole stack: concurrent requests to a replica of a model
whose config asks for batching ride in shared calls, each caller gets its own output, and
the router records the average batch size for the page and the metrics."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.history import traffic_history
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import NodeStatus
from tests.conftest import reconcile_until_ready, requires_docker, wait_for
from tests.metrics.support import samples, total

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"
BATCH_ECHO = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "batch-echo"


@pytest.fixture
def batched(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu", cpu_cores=2)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=2, status=NodeStatus.READY)
    model, version = version_from_example(owner, BATCH_ECHO)
    assert version.config["batching"] == {"max_batch_size": 16, "max_wait_ms": 20}
    dep = make_deployment(owner, model, version, pool, slug="batched", min_replicas=1)
    reconcile_until_ready(dep)
    yield dep
    for dep in Deployment.objects.all():
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


def test_concurrent_requests_share_model_calls(asgi_server, batched, owner):
    key = AccessToken.issue(owner, "tests")[1]
    url = f"{asgi_server}/v2/users/me/deployments/batched/outputs"

    def predict(n: int) -> str:
        answer = httpx.post(
            url,
            json={"inputs": [{"data": {"text": {"raw": f"req-{n}"}}}]},
            headers={"Authorization": f"Key {key}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["outputs"][0]["data"]["text"]["raw"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(predict, range(64)))
    texts = [a.split("|")[0] for a in answers]
    sizes = [int(a.split("|")[1]) for a in answers]
    assert texts == [f"req-{n}" for n in range(64)]  # each caller its own output
    assert max(sizes) > 1, sizes  # and calls held several requests' inputs

    # The router counted each request's share of a call: inputs / calls is the batch size.
    scrape = samples(httpx.get(f"{asgi_server}/metrics", timeout=10).text)
    inputs = total(scrape, "orchestration_model_inputs_total", deployment="batched")
    calls = total(scrape, "orchestration_model_calls_total", deployment="batched")
    assert inputs == 64
    assert inputs / calls > 1.5
    # And wrote it into the traffic rows the deployment page reads.
    history = wait_for(
        lambda: (h := traffic_history(batched)).inputs == 64 and h,
        timeout=20,
        message="the traffic rows of the 64 requests",
    )
    assert history.average_batch_size == pytest.approx(inputs / calls, rel=0.01)
