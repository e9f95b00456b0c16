"""Streamed outputs end to end: the real ASGI server and gRPC servicer, a real replica of
a model with generate() in Docker, steered by the test through its predict()."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import NodeStatus
from orchestration.predict import resolve
from tests.conftest import reconcile_until_ready, requires_docker, wait_for
from tests.grpc_api import conftest as grpc_fixtures
from tests.metrics.support import samples, total

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"
MODELS = Path(__file__).resolve().parents[1] / "fixtures" / "models"


@pytest.fixture
def probe(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu", cpu_cores=4)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=4, status=NodeStatus.READY)
    model, version = version_from_example(owner, MODELS / "stream-probe")
    assert version.streams
    dep = make_deployment(owner, model, version, pool, slug="probe", min_replicas=1)
    reconcile_until_ready(dep)
    yield dep
    for dep in Deployment.objects.all():
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


grpc_server = grpc_fixtures.grpc_server  # the gRPC servicer in this process, a fixture
v2 = grpc_fixtures.stub  # a clarifai-grpc V2 stub on it, a fixture


@pytest.fixture
def key(owner):
    return AccessToken.issue(owner, "tests")[1]


def _body(text: str) -> dict:
    return {
        "inputs": [{"id": "in-1", "data": {"text": {"raw": text}}}],
        "runner_selector": {"deployment": {"id": "probe"}},
    }


def _predict(server: str, key: str, text: str) -> str:
    answer = httpx.post(
        f"{server}/v2/models/stream-probe/outputs",
        json=_body(text),
        headers={"Authorization": f"Key {key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["outputs"][0]["data"]["text"]["raw"]


def _raw(line: str) -> str:
    response = json.loads(line)
    assert response["status"]["code"] == resolve.SUCCESS, response
    return response["outputs"][0]["data"]["text"]["raw"]


def test_the_first_chunk_arrives_while_the_model_still_runs(asgi_server, probe, key):
    url = f"{asgi_server}/v2/users/me/apps/main/models/stream-probe/outputs/generate"
    with httpx.stream(
        "POST", url, json=_body("wait"), headers={"Authorization": f"Key {key}"}, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = response.iter_lines()
        first = json.loads(next(lines))
        assert _raw(json.dumps(first)) == "first"
        assert first["outputs"][0]["input"]["id"] == "in-1"
        # The model is blocked until it is told to go: this chunk cannot be a late one.
        assert _predict(asgi_server, key, "go") == "go"
        second = json.loads(next(lines))
        assert _raw(json.dumps(second)) == " second"
        # One output id per input, across the chunks.
        assert second["outputs"][0]["id"] == first["outputs"][0]["id"]
        assert list(lines) == []


def test_a_client_that_goes_away_stops_the_model(asgi_server, probe, key):
    url = f"{asgi_server}/v2/models/stream-probe/outputs/generate"
    with httpx.stream(
        "POST", url, json=_body("forever"), headers={"Authorization": f"Key {key}"}, timeout=60
    ) as response:
        lines = response.iter_lines()
        assert [_raw(next(lines)) for _ in range(3)] == [" 0", " 1", " 2"]
        assert _predict(asgi_server, key, "status") == "open"
    # The connection is closed: the router closes the replica's, and the runner closes
    # the model's generator (its finally runs).
    wait_for(lambda: _predict(asgi_server, key, "status") == "closed", timeout=15)
    scrape = samples(httpx.get(f"{asgi_server}/metrics", timeout=10).text)
    labels = {"deployment": "probe", "model": "stream-probe"}
    assert total(scrape, "orchestration_predict_in_flight", **labels) == 0
    assert (
        total(
            scrape,
            "orchestration_predict_requests_total",
            code="499",
            transport="http_stream",
            **labels,
        )
        == 1
    )


def test_an_error_midway_is_the_streams_last_line(asgi_server, probe, key):
    url = f"{asgi_server}/v2/models/stream-probe/outputs/generate"
    answer = httpx.post(
        url, json=_body("boom"), headers={"Authorization": f"Key {key}"}, timeout=60
    )
    assert answer.status_code == 200
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert _raw(json.dumps(lines[0])) == "one"
    last = lines[-1]
    assert last["status"]["code"] == resolve.MODEL_PREDICTION_FAILED
    assert "the probe broke mid-stream" in last["status"]["details"]
    assert len(lines) == 2


def test_errors_before_any_output_are_plain_answers(asgi_server, probe, key, other_user):
    url = f"{asgi_server}/v2/models/stream-probe/outputs/generate"
    assert httpx.post(url, json=_body("wait")).status_code == 401
    theirs = AccessToken.issue(other_user, "tests")[1]
    missing = httpx.post(url, json=_body("wait"), headers={"Authorization": f"Key {theirs}"})
    assert missing.status_code == 404
    assert missing.json()["status"]["code"] == resolve.DEPLOYMENT_DOES_NOT_EXIST
    empty = httpx.post(url, json={"inputs": []}, headers={"Authorization": f"Key {key}"})
    assert empty.status_code == 400
    assert httpx.get(url, headers={"Authorization": f"Key {key}"}).status_code == 405


def test_a_model_without_generate_says_so(
    asgi_server, probe, key, owner, version_from_example, make_deployment
):
    model, version = version_from_example(owner, MODELS / "echo-log")
    assert not version.streams
    echo = make_deployment(owner, model, version, probe.nodepool, slug="echo", min_replicas=1)
    reconcile_until_ready(echo)
    answer = httpx.post(
        f"{asgi_server}/v2/users/me/deployments/echo/outputs/generate",
        json={"inputs": [{"data": {"text": {"raw": "hi"}}}]},
        headers={"Authorization": f"Key {key}"},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["status"]["description"] == "This model does not stream its outputs"
    assert "generate" in answer.json()["status"]["details"]


def test_grpc_generate_model_outputs_streams(asgi_server, probe, key, v2):
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2
    from clarifai_grpc.grpc.api.status import status_code_pb2

    def request(text: str):
        return service_pb2.PostModelOutputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id="main"),
            model_id="stream-probe",
            runner_selector=resources_pb2.RunnerSelector(
                deployment=resources_pb2.Deployment(id="probe")
            ),
            inputs=[resources_pb2.Input(data=resources_pb2.Data(text={"raw": text}))],
        )

    metadata = (("authorization", f"Key {key}"),)
    answers = v2.GenerateModelOutputs(request("wait"), metadata=metadata, timeout=60)
    first = next(answers)
    assert first.status.code == status_code_pb2.SUCCESS
    assert first.outputs[0].data.text.raw == "first"
    assert _predict(asgi_server, key, "go") == "go"
    rest = list(answers)
    assert [a.outputs[0].data.text.raw for a in rest] == [" second"]

    # A call the client cancels stops the model too.
    forever = v2.GenerateModelOutputs(request("forever"), metadata=metadata, timeout=60)
    assert next(forever).outputs[0].data.text.raw == " 0"
    forever.cancel()
    wait_for(lambda: _predict(asgi_server, key, "status") == "closed", timeout=15)


def test_concurrent_streams_each_reach_the_model(asgi_server, probe, key):
    url = f"{asgi_server}/v2/models/stream-probe/outputs/generate"
    results: list[str] = []

    def run() -> None:
        answer = httpx.post(
            url, json=_body("boom"), headers={"Authorization": f"Key {key}"}, timeout=60
        )
        results.append(_raw(answer.text.splitlines()[0]))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == ["one"] * 4
