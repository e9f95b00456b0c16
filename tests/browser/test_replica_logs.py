"""A replica's log lines appear on the deployment page while its model prints them, with
no reload: a real replica in Docker, a prediction through the real server, Chromium."""

from __future__ import annotations

import uuid
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

from .test_deploy_flow import _log_in

pytestmark = [
    requires_docker,
    pytest.mark.browser,
    pytest.mark.docker,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
]
ENGINE = "unix:///var/run/docker.sock"
ECHO_LOG = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "echo-log"


@pytest.fixture
def echo(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner), cpu_cores=2)
    make_node(pool, "node-1", engine_url=ENGINE, cpu_capacity=2, status=NodeStatus.READY)
    model, version = version_from_example(owner, ECHO_LOG)
    dep = make_deployment(
        owner, model, version, pool, slug="echo", min_replicas=1, desired_replicas=1
    )
    yield dep
    for container in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
        docker_engine.stop_and_remove(ENGINE, container.id, timeout=1)


def _start_replica(deployment) -> None:
    """Queue a reconcile for the live worker, past the browser tests' recording of
    enqueues (it replaces the task module's attribute; the app's registry keeps the task)."""
    from orchestration.celery import app

    app.tasks["orchestration.deployments.tasks.reconcile_deployment"].delay(deployment.pk)
    wait_for(
        lambda: deployment.replicas.filter(state=ReplicaState.READY).exists(),
        timeout=90,
        message="a ready replica",
    )


def test_log_lines_appear_while_the_model_prints_them(page, shoot, asgi_server, owner, echo):
    _start_replica(echo)
    replica = echo.replicas.get(state=ReplicaState.READY)
    _log_in(page, "owner", "owner-pass-123")
    page.goto(f"/deployments/{echo.slug}/")
    panel = page.locator("#logs")
    expect(panel.get_by_text("Pick a replica")).to_be_visible()
    panel.get_by_role("link", name=f"#{replica.pk}").click()
    lines = page.locator("#log-lines")
    expect(lines).to_contain_text("echo-log: loaded")
    expect(panel.get_by_text("Following: new lines appear")).to_be_visible()
    # Marks this document: a reload would lose it.
    page.evaluate("window.notReloaded = true")

    key = AccessToken.issue(owner, "tests")[1]
    for n in range(2):
        token = f"printed-{n}-{uuid.uuid4().hex[:10]}"
        answer = httpx.post(
            f"{asgi_server}/v2/users/me/deployments/{echo.slug}/outputs",
            headers={"Authorization": f"Key {key}"},
            json={"inputs": [{"data": {"text": {"raw": token}}}]},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        expect(lines).to_contain_text(f"echo-log: {token}", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    # Each line once: the polls asked only for lines after the last one shown.
    assert lines.locator(".log-line", has_text="echo-log: loaded").count() == 1
    assert "\n\n" not in lines.inner_text()
    download = panel.get_by_role("link", name="Download whole log")
    expect(download).to_have_attribute("href", f"/deployments/echo/logs/{replica.pk}.log")
    shoot(page, "deployment-logs")
    with page.expect_download() as event:
        download.click()
    saved = Path(event.value.path()).read_text()
    assert f"echo-log: {token}" in saved
    assert event.value.suggested_filename == f"echo-replica-{replica.pk}.log"

    panel.get_by_role("link", name="Close").click()
    expect(page.locator("#log-lines")).to_have_count(0)
    expect(page.locator("#log-poll")).to_have_count(0)
