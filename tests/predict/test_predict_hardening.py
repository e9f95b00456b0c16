"""Predict bodies that used to crash or mislead: deep nesting, NaN/Infinity, contradicting
selectors, and a replica that answers non-standard JSON. Both entry points: the lean ASGI
app (production) and Django's views (WSGI, the test client)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from orchestration.accounts.models import AccessToken
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.predict import resolve
from orchestration.predict.router import router

DEEP = 1000
NEST = "[" * DEEP + "]" * DEEP
OPEN = "[" * DEEP


def _deep_bodies() -> dict[str, bytes]:
    ok_input = '{"data": {"text": {"raw": "hi"}}}'
    return {
        "top level": NEST.encode(),
        "inside data": ('{"inputs": [{"data": {"x": ' + NEST + "}}]}").encode(),
        "inside runner_selector": (
            '{"inputs": [' + ok_input + '], "runner_selector": {"deployment": ' + NEST + "}}"
        ).encode(),
        "unclosed": ('{"inputs": [{"data": ' + OPEN).encode(),
    }


NON_STANDARD = {
    "NaN": b'{"inputs": [{"data": {"n": NaN}}]}',
    "Infinity": b'{"inputs": [{"data": {"n": Infinity}}]}',
    "-Infinity": b'{"inputs": [{"data": {"n": -Infinity}}]}',
    "1e400": b'{"inputs": [{"data": {"n": 1e400}}]}',
}


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_model, make_deployment, settings, monkeypatch):
    settings.COLD_START_TIMEOUT = 0
    from orchestration.deployments import tasks

    monkeypatch.setattr(tasks.reconcile_deployment, "delay", lambda *a, **k: None)
    resolve._targets.forget()
    router.invalidate()
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    model, version = make_model(owner, "sentiment")
    dep = make_deployment(owner, model, version, pool, slug="dep", desired_replicas=0)
    make_deployment(owner, model, version, make_nodepool(pool.cluster, "gpu"), slug="other")
    return AccessToken.issue(owner, "hardening")[1], dep


def _asgi(path: str, raw: bytes, key: str) -> httpx.Response:
    from orchestration.asgi import application

    async def send():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post(path, content=raw, headers={"Authorization": f"Key {key}"})

    return async_to_sync(send)()


def _django(path: str, raw: bytes, key: str):
    return Client().post(
        path, data=raw, content_type="application/json", HTTP_AUTHORIZATION=f"Key {key}"
    )


ENTRY_POINTS = {"asgi": _asgi, "django": _django}
PATHS = ["/v2/models/sentiment/outputs", "/v2/users/me/deployments/dep/outputs"]


def _strict(response) -> dict:
    """The body parsed the way strict clients do: NaN or Infinity would raise."""

    def refuse(name):
        raise AssertionError(f"the server wrote {name}")

    return json.loads(response.content, parse_constant=refuse)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("where", list(_deep_bodies()))
@pytest.mark.parametrize("path", PATHS)
def test_deeply_nested_json_is_a_400_naming_the_problem(world, entry, where, path):
    key, _ = world
    response = ENTRY_POINTS[entry](path, _deep_bodies()[where], key)
    assert response.status_code == 400, response.content[:300]
    status = _strict(response)["status"]
    assert status["code"] == resolve.INVALID_REQUEST
    assert "nested too deeply" in status["details"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("name", list(NON_STANDARD))
def test_nan_and_infinity_are_refused(world, entry, name):
    key, _ = world
    response = ENTRY_POINTS[entry](PATHS[0], NON_STANDARD[name], key)
    assert response.status_code == 400, response.content[:300]
    status = _strict(response)["status"]
    assert status["code"] == resolve.INVALID_REQUEST
    assert ("out of range" if name == "1e400" else name) in status["details"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_selector_naming_another_deployment_than_the_url_is_a_400(world, entry):
    key, _ = world
    path = "/v2/users/me/deployments/dep/outputs"
    data = {"text": {"raw": "hi"}}
    for selector in (
        {"deployment": {"id": "other"}},
        {"deployment": {"id": "dep", "user_id": "someone-else"}},
        {"nodepool": {"id": "gpu", "compute_cluster": {"id": "east"}}},
    ):
        raw = json.dumps({"inputs": [{"data": data}], "runner_selector": selector}).encode()
        response = ENTRY_POINTS[entry](path, raw, key)
        assert response.status_code == 400, (selector, response.content)
        assert response.json()["status"]["code"] == resolve.INVALID_REQUEST
        assert "another" in response.json()["status"]["description"]
    # A selector that agrees with the URL is fine: on to routing (no replica: deploying).
    for selector in (
        {"deployment": {"id": "dep", "user_id": "me"}},
        {"nodepool": {"id": "cpu", "compute_cluster": {"id": "east"}}},
    ):
        raw = json.dumps({"inputs": [{"data": data}], "runner_selector": selector}).encode()
        response = ENTRY_POINTS[entry](path, raw, key)
        assert response.status_code == 503, (selector, response.content)


class _NaNReplica(BaseHTTPRequestHandler):
    """A runner whose model put NaN and Infinity in its output (Python's json writes them)."""

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"outputs": [{"score": float("nan"), "top": float("inf")}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_replica_answering_nan_is_a_502_in_strict_json(world, entry):
    key, dep = world
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NaNReplica)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Replica.objects.create(
            deployment=dep,
            model_version=dep.model_version,
            state=ReplicaState.READY,
            address=f"127.0.0.1:{server.server_address[1]}",
        )
        router.invalidate()
        raw = json.dumps({"inputs": [{"data": {"text": {"raw": "hi"}}}]}).encode()
        response = ENTRY_POINTS[entry](PATHS[1], raw, key)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 502, response.content
    status = _strict(response)["status"]
    assert status["code"] == resolve.MODEL_PREDICTION_FAILED
    assert status["description"] == "The model returned invalid JSON"
    assert "NaN" in status["details"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("redis_url", ["", "from-env"])
def test_a_key_over_its_rate_limit_is_429_conn_throttled(world, owner, settings, redis_url):
    import os

    if redis_url == "from-env":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("set REDIS_URL (the test command does)")
        redis_url = os.environ["REDIS_URL"]
    settings.REDIS_URL = redis_url
    settings.PREDICT_RATE_LIMIT = 0.5
    settings.PREDICT_RATE_BURST = 2
    key, _ = world
    raw = json.dumps({"inputs": [{"data": {"text": {"raw": "hi"}}}]}).encode()
    assert [_asgi(PATHS[1], raw, key).status_code for _ in range(2)] == [503, 503]
    refused = _asgi(PATHS[1], raw, key)
    assert refused.status_code == 429, refused.content
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    status = _strict(refused)["status"]
    assert status["code"] == resolve.CONN_THROTTLED == 11005
    assert status["description"] == "Too many requests"
    # The Django views share the bucket; another key has its own.
    assert _django(PATHS[1], raw, key).status_code == 429
    other = AccessToken.issue(owner, "second")[1]
    assert _asgi(PATHS[1], raw, other).status_code == 503


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_replica_that_refuses_connections_gets_its_deployment_reconciled(
    world, entry, monkeypatch
):
    """The router notices a dead replica before any engine poll does: it queues a
    reconcile (which replaces the replica), once however many requests hit it."""
    from orchestration.deployments import tasks

    key, dep = world
    queued: list[int] = []
    monkeypatch.setattr(tasks.reconcile_deployment, "delay", lambda pk: queued.append(pk))
    router._reconcile_asked.clear()
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    Replica.objects.create(
        deployment=dep, model_version=dep.model_version, state=ReplicaState.READY, address=address
    )
    router.invalidate()
    raw = json.dumps({"inputs": [{"data": {"text": {"raw": "hi"}}}]}).encode()
    for _ in range(3):
        response = ENTRY_POINTS[entry](PATHS[1], raw, key)
        assert response.status_code == 503, response.content
    assert queued == [dep.pk]
