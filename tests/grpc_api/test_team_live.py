"""A team of three shares a nodepool and a model (issue 20's "done when"), for real: the
admin describes the compute through the API, the member deploys through the API and the
replica runs in Docker; each predicts by role through HTTP, the official `clarifai` SDK
over gRPC and the portal's Try it in Chromium; the outsider sees nothing of it."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from orchestration import docker_engine
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Deployment, ReplicaState
from tests.browser.conftest import browser, page, shoot  # noqa: F401 - fixtures
from tests.conftest import requires_docker, wait_for

pytestmark = [
    requires_docker,
    pytest.mark.browser,
    pytest.mark.docker,
    pytest.mark.celery,
    pytest.mark.django_db(transaction=True),
]
ENGINE = "unix:///var/run/docker.sock"
TEXT = b"What a wonderful, lovely day"


def _api(base: str, key: str, method: str, path: str, body=None) -> httpx.Response:
    return httpx.request(
        method,
        f"{base}/api/v1/{path}",
        headers={"Authorization": f"Key {key}"},
        json=body,
        timeout=30,
    )


def _sdk(grpc_server: str, key: str):
    from clarifai.client.model import Model

    return Model(
        model_id="sentiment",
        user_id="acme",
        app_id="main",
        base_url=f"http://{grpc_server}",
        pat=key,
        deployment_id="team-sent",
        deployment_user_id="acme",
    )


@pytest.fixture
def shared_model(team, version_from_example):
    """The team's model, uploaded by its owner; containers removed afterwards."""
    version_from_example(team.account, "sentiment")
    yield team
    for dep in Deployment.objects.all():
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


def test_a_team_of_three_shares_a_nodepool_and_a_model(
    asgi_server,
    grpc_server,
    shared_model,  # after the servers: its containers go before they stop
    page,  # noqa: F811 - the browser tests' fixture, imported above
    shoot,  # noqa: F811
):
    team = shared_model
    admin, member, viewer = team.key("admin"), team.key("member"), team.key("viewer")
    outsider = team.key("outsider")

    # The admin describes the compute; the member may not, the viewer may not deploy.
    assert _api(asgi_server, admin, "POST", "clusters/", {"id": "east"}).status_code == 201
    pool = {"id": "cpu", "cpu_cores": "2", "memory": "4Gi", "instance_type": "local"}
    assert _api(asgi_server, member, "POST", "clusters/", {"id": "west"}).status_code == 403
    response = _api(asgi_server, admin, "POST", "clusters/east/nodepools/", pool)
    assert response.status_code == 201, response.text
    node = {"name": "local", "engine_url": ENGINE, "address": "127.0.0.1"}
    response = _api(asgi_server, admin, "POST", "clusters/east/nodepools/cpu/nodes/", node)
    assert response.status_code == 201, response.text
    wait_for(
        lambda: (
            _api(asgi_server, admin, "GET", "clusters/east/nodepools/cpu/nodes/local/").json()[
                "status"
            ]
            == "ready"
        ),
        timeout=60,
        message="the node's probe",
    )
    deployment = {
        "id": "team-sent",
        "model_id": "sentiment",
        "cluster_id": "east",
        "nodepool_id": "cpu",
        "autoscale_config": {"min_replicas": 1, "max_replicas": 1},
    }
    assert _api(asgi_server, viewer, "POST", "deployments/", deployment).status_code == 403
    response = _api(asgi_server, member, "POST", "deployments/", deployment)
    assert response.status_code == 201, response.text
    dep = Deployment.objects.get(slug="team-sent")
    assert dep.owner == team.account
    wait_for(
        lambda: dep.replicas.filter(state=ReplicaState.READY).exists(),
        timeout=120,
        message="the team's replica",
    )

    # HTTP: the owner's scoped key; the outsider's key finds nothing.
    url = f"{asgi_server}/v2/users/acme/deployments/team-sent/outputs"
    body = {"inputs": [{"data": {"text": {"raw": TEXT.decode()}}}]}
    owner_key = team.key("owner")
    answer = httpx.post(url, headers={"Authorization": f"Key {owner_key}"}, json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"]["concepts"][0]["id"] == "positive"
    refused = httpx.post(url, headers={"Authorization": f"Key {outsider}"}, json=body, timeout=30)
    assert refused.status_code == 404

    # The clarifai SDK: the member's personal key names the organization as user_id.
    personal = team.key("member", scoped=False)
    top = _sdk(grpc_server, personal).predict_by_bytes(TEXT, input_type="text")
    assert top.outputs[0].data.concepts[0].id == "positive"
    with pytest.raises(Exception, match="11007|INSUFFICIENT|cannot send predictions"):
        _sdk(grpc_server, team.key("viewer", scoped=False)).predict_by_bytes(
            TEXT, input_type="text"
        )
    with pytest.raises(Exception, match="DEPLOYMENT_DOES_NOT_EXIST|21200|25900|not exist"):
        _sdk(grpc_server, outsider).predict_by_bytes(TEXT, input_type="text")

    # The browser: the member switches to the organization and uses Try it.
    page.goto(f"{asgi_server}/login/")
    page.get_by_label("Username").fill("team-member")
    page.get_by_label("Password").fill("member-pass-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    with page.expect_navigation():  # choosing a space submits the switcher
        page.select_option("#space-switch", "acme")
    expect(page.locator(".spacebar")).to_contain_text("Acme ML")
    page.goto(f"{asgi_server}/models/sentiment/")
    page.select_option("#deployment", "team-sent")
    page.locator("#predict-text").fill("this is terrible")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#predict-result .concepts li").first).to_contain_text(
        "negative", timeout=30_000
    )
    shoot(page, "team-try-it-in-organization")
    page.goto(f"{asgi_server}/account/organizations/acme/activity/")
    expect(page.get_by_role("cell", name="team-sent").first).to_be_visible()
    shoot(page, "team-activity")

    # Every event names who did it.
    actions = set(team.organization.events.values_list("actor_name", "action"))
    assert ("team-member", "deployed") in actions and ("team-owner", "added a member") in actions
    assert ("team-admin", "created a cluster") in actions
    assert ("team-admin", "created a nodepool") in actions
