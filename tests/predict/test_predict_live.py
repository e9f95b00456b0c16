"""Prediction end to end: the real ASGI server, a real worker, real replicas in Docker."""

from __future__ import annotations

import concurrent.futures
import threading

import httpx
import pytest
import redis
from django.conf import settings

from orchestration import docker_engine
from orchestration.accounts.actions import revoke_token
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Deployment, ReplicaState
from orchestration.deployments.routing_state import KEYS_CHANNEL
from orchestration.nodepools.models import NodeStatus
from tests.conftest import reconcile_until_ready, requires_docker, wait_for

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"


@pytest.fixture
def key(owner):
    return AccessToken.issue(owner, "tests")[1]


@pytest.fixture
def setup(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu", cpu_cores=4)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=4, status=NodeStatus.READY)
    model, version = version_from_example(owner, "sentiment")
    created = []

    def deploy(slug="sent", nodepool=pool, **kw):
        kw.setdefault("min_replicas", 1)
        kw.setdefault("desired_replicas", kw["min_replicas"])
        dep = make_deployment(owner, model, version, nodepool, slug=slug, **kw)
        created.append(dep)
        return dep

    yield pool, model, version, deploy
    for dep in Deployment.objects.all():
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


def _body(text, selector=None):
    body = {"inputs": [{"id": "in-1", "data": {"text": {"raw": text}}}]}
    if selector:
        body["runner_selector"] = selector
    return body


def test_official_clarifai_client_through_every_path(asgi_server, key, setup, owner):
    from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
    from clarifai_grpc.grpc.api.status import status_code_pb2

    pool, model, version, deploy = setup
    dep = deploy()
    reconcile_until_ready(dep)
    stub = service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=asgi_server))
    metadata = (("authorization", f"Key {key}"),)
    text = resources_pb2.Input(
        data=resources_pb2.Data(text=resources_pb2.Text(raw="What a wonderful, lovely day"))
    )
    selector = resources_pb2.RunnerSelector(deployment=resources_pb2.Deployment(id=dep.slug))
    me = resources_pb2.UserAppIDSet(user_id="me", app_id="any")
    requests = [
        service_pb2.PostModelOutputsRequest(
            model_id=model.slug, inputs=[text], runner_selector=selector
        ),
        service_pb2.PostModelOutputsRequest(
            model_id=model.slug,
            version_id=version.version_id,
            inputs=[text],
            runner_selector=selector,
        ),
        service_pb2.PostModelOutputsRequest(
            user_app_id=me, model_id=model.slug, inputs=[text], runner_selector=selector
        ),
        service_pb2.PostModelOutputsRequest(
            user_app_id=me,
            model_id=model.slug,
            version_id=version.version_id,
            inputs=[text],
            runner_selector=selector,
        ),
        service_pb2.PostModelOutputsRequest(
            model_id=model.slug,
            inputs=[text],
            runner_selector=resources_pb2.RunnerSelector(
                nodepool=resources_pb2.Nodepool(
                    id=pool.slug, compute_cluster=resources_pb2.ComputeCluster(id="east")
                )
            ),
        ),
    ]
    for request in requests:
        response = stub.PostModelOutputs(request, metadata=metadata)
        assert response.status.code == status_code_pb2.SUCCESS, response.status
        output = response.outputs[0]
        assert output.model.id == model.slug
        assert output.model.model_version.id == version.version_id
        assert output.data.concepts[0].id == "positive"
        assert output.data.concepts[0].value > 0.5
    # The client's JSON channel cannot fill the deployment path's template (it looks for a
    # top-level `id`), so that path is exercised with plain HTTP and parsed by the client.
    from clarifai_grpc.channel.custom_converters.custom_dict_to_message import dict_to_protobuf

    raw = httpx.post(
        f"{asgi_server}/v2/users/me/deployments/{dep.slug}/outputs",
        headers={"Authorization": f"Key {key}"},
        json={"inputs": [{"data": {"text": {"raw": "lovely"}}}]},
        timeout=30,
    )
    parsed = dict_to_protobuf(service_pb2.MultiOutputResponse, raw.json())
    assert parsed.status.code == status_code_pb2.SUCCESS
    assert parsed.outputs[0].data.concepts[0].id == "positive"


def test_errors_are_json(asgi_server, key, setup, other_user):
    pool, model, version, deploy = setup
    dep = deploy(min_replicas=0, desired_replicas=0)
    url = f"{asgi_server}/v2/models/{model.slug}/outputs"
    other_key = AccessToken.issue(other_user, "x")[1]
    token, revoked_plain = AccessToken.issue(owner_of(dep), "gone")
    revoke_token(token)
    cases = [
        ({}, _body("hi"), 401),
        ({"Authorization": "Key nope"}, _body("hi"), 401),
        ({"Authorization": f"Key {revoked_plain}"}, _body("hi"), 401),
        ({"Authorization": f"Key {key}"}, b"{not json", 400),
        ({"Authorization": f"Key {key}"}, {"inputs": []}, 400),
        ({"Authorization": f"Key {key}"}, _body("hi", {"deployment": {"id": "nope"}}), 404),
        ({"Authorization": f"Key {key}"}, _body("hi", {"deployment": "x"}), 400),
        # Another user's deployment: 404, as if it did not exist.
        ({"Authorization": f"Key {other_key}"}, _body("hi", {"deployment": {"id": dep.slug}}), 404),
    ]
    for headers, body, status in cases:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        response = httpx.post(url, headers=headers, timeout=30, **kwargs)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/json"
        assert "code" in response.json()["status"]
    missing = httpx.post(
        f"{asgi_server}/v2/models/nope/outputs",
        headers={"Authorization": f"Key {key}"},
        json=_body("hi"),
        timeout=30,
    )
    assert missing.status_code == 404
    big = httpx.post(
        url,
        headers={"Authorization": f"Key {key}"},
        content=b'{"inputs": [{"data": {"text": {"raw": "' + b"a" * (21 * 1024 * 1024) + b'"}}}]}',
        timeout=60,
    )
    assert big.status_code == 413
    foreign = httpx.post(
        f"{asgi_server}/v2/users/other/deployments/{dep.slug}/outputs",
        headers={"Authorization": f"Key {key}"},
        json=_body("hi"),
        timeout=30,
    )
    assert foreign.status_code == 404


@pytest.mark.skipif(not settings.REDIS_URL, reason="revocations are published through Redis")
def test_a_revoked_key_is_refused_at_once_though_the_server_cached_it(asgi_server, owner):
    token, plain = AccessToken.issue(owner, "short-lived")
    url = f"{asgi_server}/v2/models/no-such-model/outputs"

    def status() -> int:
        headers = {"Authorization": f"Key {plain}"}
        return httpx.post(url, headers=headers, json=_body("hi"), timeout=30).status_code

    assert status() == 404  # the key is good (and now cached for 120 s); the model is not
    client = redis.Redis.from_url(settings.REDIS_URL)
    wait_for(
        lambda: dict(client.pubsub_numsub(KEYS_CHANNEL))[KEYS_CHANNEL.encode()] > 0,
        timeout=30,
        message="the server to listen for revocations",
    )
    revoke_token(token)
    wait_for(lambda: status() == 401, timeout=30, message="the revoked key to be refused")


def owner_of(dep):
    return dep.owner


def test_two_replicas_share_load_and_a_killed_one_fails_no_request(asgi_server, key, setup):
    _, model, _, deploy = setup
    dep = deploy(min_replicas=2)
    reconcile_until_ready(dep, 2)
    url = f"{asgi_server}/v2/models/{model.slug}/outputs"
    headers = {"Authorization": f"Key {key}"}
    selector = {"deployment": {"id": dep.slug}}
    served = []
    failures = []
    stop = threading.Event()

    def stream():
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                r = client.post(url, headers=headers, json=_body("good", selector))
                if r.status_code != 200:
                    failures.append(r.text)
                served.append(r.headers.get("x-replica"))

    threads = [threading.Thread(target=stream) for _ in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(served) > 40, timeout=30)
    assert len(set(served)) == 2, "both replicas should serve"
    victim = dep.replicas.filter(state=ReplicaState.READY).first()
    docker_engine.kill(ENGINE, victim.container_id)
    count = len(served)
    wait_for(lambda: len(served) > count + 60, timeout=60)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []


def test_cold_start_twenty_requests_start_one_replica(asgi_server, key, setup):
    _, model, _, deploy = setup
    dep = deploy(slug="cold", min_replicas=0, desired_replicas=0)
    url = f"{asgi_server}/v2/users/me/deployments/{dep.slug}/outputs"
    headers = {"Authorization": f"Key {key}"}

    def call(_):
        return httpx.post(url, headers=headers, json=_body("nice"), timeout=150)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(call, range(20)))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert dep.replicas.count() == 1
    dep.refresh_from_db()
    assert dep.desired_replicas == 1
    assert dep.events.filter(kind="cold_start").count() == 1


def test_shared_deployment_created_on_first_use(asgi_server, key, setup, owner):
    from orchestration.nodepools.shared import ensure_shared_compute

    shared = ensure_shared_compute()
    shared.nodes.update(status=NodeStatus.READY)
    _, model, _, _ = setup
    response = httpx.post(
        f"{asgi_server}/v2/models/{model.slug}/outputs",
        headers={"Authorization": f"Key {key}"},
        json=_body("this is terrible"),
        timeout=150,
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"]["concepts"][0]["id"] == "negative"
    dep = Deployment.objects.get(model=model, nodepool=shared)
    assert dep.min_replicas == 0
    assert response.headers["x-deployment"] == dep.slug


def test_portal_predict_form_uses_the_chosen_deployment(celery_worker_process, setup, owner):
    from django.test import Client
    from django.urls import reverse

    _, model, _, deploy = setup
    dep = deploy(slug="portal-dep")
    reconcile_until_ready(dep)
    client = Client()
    client.force_login(owner)
    response = client.post(
        reverse("models:predict", args=[model.slug]),
        {"deployment": dep.slug, "text": "I love this wonderful thing"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "positive" in body.split("negative")[0], body
    assert f'Served by deployment <a href="/deployments/{dep.slug}/">{dep.slug}</a>' in body
    replica = dep.replicas.get(state=ReplicaState.READY)
    assert f"replica {replica.pk}" in body
