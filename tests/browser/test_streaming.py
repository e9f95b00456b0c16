"""The portal's Try it shows a streamed answer growing as the model yields it: a real
replica in Docker, the page served by the real ASGI server (streaming needs it), Chromium."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import ReplicaState
from orchestration.nodepools.models import NodeStatus
from tests.conftest import requires_docker, wait_for

pytestmark = [
    requires_docker,
    pytest.mark.browser,
    pytest.mark.docker,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
]
ENGINE = "unix:///var/run/docker.sock"
PROBE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "stream-probe"


@pytest.fixture
def probe(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner), cpu_cores=2)
    make_node(pool, "node-1", engine_url=ENGINE, cpu_capacity=2, status=NodeStatus.READY)
    model, version = version_from_example(owner, PROBE)
    dep = make_deployment(
        owner, model, version, pool, slug="probe", min_replicas=1, desired_replicas=1
    )
    yield dep
    for container in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
        docker_engine.stop_and_remove(ENGINE, container.id, timeout=1)


def test_streamed_text_grows_in_the_page(page, shoot, asgi_server, owner, probe):
    from orchestration.celery import app

    # Past the browser tests' recording of enqueues: the live worker starts the replica.
    app.tasks["orchestration.deployments.tasks.reconcile_deployment"].delay(probe.pk)
    wait_for(
        lambda: probe.replicas.filter(state=ReplicaState.READY).exists(),
        timeout=90,
        message="a ready replica",
    )
    page.goto(f"{asgi_server}/login/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("owner-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto(f"{asgi_server}/models/stream-probe/")
    page.select_option("#deployment", "probe")
    page.fill("#predict-text", "wait")
    page.get_by_role("button", name="Stream").click()

    text = page.locator(".stream-text")
    # The model is blocked after its first chunk: the page shows it while it waits.
    expect(text).to_have_text("first")
    expect(text).to_have_attribute("data-streaming", "1")
    expect(page.locator(".stream-meta")).to_have_text("Streaming…")
    shoot(page, "model-try-it-streaming")

    key = AccessToken.issue(owner, "tests")[1]
    answer = httpx.post(
        f"{asgi_server}/v2/users/me/deployments/probe/outputs",
        headers={"Authorization": f"Key {key}"},
        json={"inputs": [{"data": {"text": {"raw": "go"}}}]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    expect(text).to_have_text("first second")
    expect(page.locator(".stream-meta")).to_contain_text("Done · deployment probe")
    expect(text).not_to_have_attribute("data-streaming", "1")

    # A model error midway shows under the text it had streamed.
    page.fill("#predict-text", "boom")
    page.get_by_role("button", name="Stream").click()
    expect(text).to_have_text("one")
    expect(page.locator(".stream-result .error-text")).to_contain_text("the probe broke mid-stream")
