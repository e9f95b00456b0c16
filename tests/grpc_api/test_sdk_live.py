"""The official `clarifai` SDK, unchanged but for base_url and key, against the live gRPC
server, real replicas in Docker (the same fixtures as tests/predict/test_predict_live.py)."""

from __future__ import annotations

import contextlib
import html
import io
import os
import re
import subprocess
import sys

import httpx
import pytest

from orchestration import docker_engine
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import NodeStatus
from tests.conftest import reconcile_until_ready, requires_docker

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"
TEXT = b"What a wonderful, lovely day"


@pytest.fixture
def sdk(grpc_server, owner_key):
    """Model(...) as a user writes it (conftest sets CLARIFAI_API_BASE for its User("me"))."""
    from clarifai.client.model import Model

    base = f"http://{grpc_server}"

    def model(model_id, key=None, **kw):
        return Model(
            model_id=model_id,
            user_id="me",
            app_id="main",
            base_url=base,
            pat=key or owner_key,
            **kw,
        )

    return model


@pytest.fixture
def setup(owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu", cpu_cores=4)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=4, status=NodeStatus.READY)
    model, version = version_from_example(owner, "sentiment")

    def deploy(slug="sent", nodepool=pool, for_model=model, for_version=version, **kw):
        kw.setdefault("min_replicas", 1)
        kw.setdefault("desired_replicas", kw["min_replicas"])
        return make_deployment(owner, for_model, for_version, nodepool, slug=slug, **kw)

    yield pool, model, version, deploy
    for dep in Deployment.objects.all():
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


def _top(response) -> str:
    return response.outputs[0].data.concepts[0].name or response.outputs[0].data.concepts[0].id


def test_sdk_predicts_by_deployment_and_by_nodepool(celery_worker_process, sdk, setup):
    pool, model, version, deploy = setup
    dep = deploy()
    reconcile_until_ready(dep)
    by_deployment = sdk("sentiment", deployment_id=dep.slug).predict_by_bytes(
        TEXT, input_type="text"
    )
    assert _top(by_deployment) == "positive"
    by_pool = sdk("sentiment", compute_cluster_id="east", nodepool_id="cpu").predict_by_bytes(
        b"this is terrible", input_type="text"
    )
    assert _top(by_pool) == "negative"


def test_sdk_shared_deployment_and_scaled_to_zero(celery_worker_process, sdk, setup):
    from orchestration.nodepools.shared import ensure_shared_compute

    ensure_shared_compute().nodes.update(status=NodeStatus.READY)
    pool, model, version, deploy = setup
    shared = sdk("sentiment").predict_by_bytes(TEXT, input_type="text")
    assert _top(shared) == "positive"
    cold = deploy(slug="cold", min_replicas=0, desired_replicas=0)
    answer = sdk("sentiment", deployment_id=cold.slug).predict_by_bytes(TEXT, input_type="text")
    assert _top(answer) == "positive"
    assert cold.events.filter(kind="cold_start").count() == 1


def test_sdk_errors(celery_worker_process, sdk, setup, other_user, other_key, version_from_example):
    pool, model, version, deploy = setup
    with pytest.raises(Exception, match="CONN_KEY_INVALID|11008|key"):
        sdk("sentiment", key="orc_not-a-key").predict_by_bytes(TEXT, input_type="text")
    with pytest.raises(Exception, match="MODEL_DOES_NOT_EXIST|21200|does not exist"):
        sdk("no-such-model")
    deploy(slug="mine")
    # Another user's deployment is "not found" for them, even with a model of that id.
    version_from_example(other_user, "sentiment")
    with pytest.raises(Exception, match="DEPLOYMENT_DOES_NOT_EXIST|not found"):
        sdk("sentiment", key=other_key, deployment_id="mine")
    failing, failing_version = version_from_example(model.owner, "failing")
    bad = deploy(slug="fails", for_model=failing, for_version=failing_version)
    reconcile_until_ready(bad)
    with pytest.raises(Exception, match="MODEL_PREDICTION_FAILED|21313"):
        sdk("failing", deployment_id=bad.slug).predict_by_bytes(TEXT, input_type="text")


def test_http_and_grpc_give_the_same_outputs(asgi_server, grpc_server, owner_key, sdk, setup):
    from google.protobuf import json_format

    pool, model, version, deploy = setup
    dep = deploy()
    reconcile_until_ready(dep)
    body = {"inputs": [{"id": "in-1", "data": {"text": {"raw": TEXT.decode()}}}]}
    http = httpx.post(
        f"{asgi_server}/v2/users/me/deployments/{dep.slug}/outputs",
        headers={"Authorization": f"Key {owner_key}"},
        json=body,
        timeout=60,
    ).json()
    from clarifai_grpc.grpc.api import resources_pb2

    grpc_answer = sdk("sentiment", deployment_id=dep.slug).predict(
        [resources_pb2.Input(id="in-1", data=resources_pb2.Data(text={"raw": TEXT.decode()}))]
    )
    as_dict = json_format.MessageToDict(grpc_answer, preserving_proto_field_name=True)
    assert [o["data"] for o in as_dict["outputs"]] == [o["data"] for o in http["outputs"]]
    assert grpc_answer.status.code == http["status"]["code"] == 10000


def test_sdk_over_tls_with_an_https_base(celery_worker_process, grpc_tls_server, owner_key, setup):
    """GRPC_TLS_CERT/KEY set: the SDK's https:// base gives a TLS channel that verifies it.

    A fresh Python, as a user's shell: CLARIFAI_API_BASE and gRPC's root certificates are
    read once per process, and this one trusts the test's self-signed certificate only.
    """
    address, cert = grpc_tls_server
    pool, model, version, deploy = setup
    dep = deploy()
    reconcile_until_ready(dep)
    script = (
        "import os\n"
        "from clarifai.client.model import Model\n"
        "m = Model(model_id='sentiment', user_id='me', app_id='main',\n"
        "          base_url=os.environ['CLARIFAI_API_BASE'], pat=os.environ['CLARIFAI_PAT'],\n"
        f"          deployment_id={dep.slug!r})\n"
        f"print(m.predict_by_bytes({TEXT!r}, input_type='text').outputs[0].data.concepts[0].id)\n"
    )
    env = {
        **os.environ,
        "CLARIFAI_API_BASE": f"https://{address}",
        "CLARIFAI_PAT": owner_key,
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(cert),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "positive"
    # The same server refuses a plaintext client: it speaks TLS only.
    plain = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "CLARIFAI_API_BASE": f"http://{address}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode != 0


def test_the_overview_snippet_runs_as_copied(
    celery_worker_process, grpc_server, owner, owner_key, setup, client, settings, monkeypatch
):
    """The model Overview's SDK snippet, pasted into Python with CLARIFAI_PAT set, predicts."""
    pool, model, version, deploy = setup
    dep = deploy()
    reconcile_until_ready(dep)
    settings.GRPC_PORT = int(grpc_server.rsplit(":", 1)[1])
    client.force_login(owner)
    page = client.get(f"/models/{model.slug}/", {"deployment": dep.slug}, HTTP_HOST="127.0.0.1")
    code = html.unescape(re.search(r'<code id="sdk-code">(.*?)</code>', page.text, re.S)[1])
    assert f'deployment_id="{dep.slug}"' in code
    assert f'base_url="http://{grpc_server}"' in code
    monkeypatch.setenv("CLARIFAI_PAT", owner_key)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "snippet", "exec"), {})  # noqa: S102 - the portal's own snippet
    assert "positive" in out.getvalue()
