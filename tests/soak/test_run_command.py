"""The run command stays up: `scripts/run` on its embedded default, driven as a user would.

One product is started for the module exactly as `make run` starts it (SQLite, the
embedded broker, supervisord), with beat's intervals shortened so the broker carries many
messages per second. The CI-sized soak fails if any process of the product died.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import docker
import pytest

from bench.soak import FAST_INTERVALS, NOT_INHERITED, Api, Product, run_soak
from tests.conftest import ROOT, requires_docker, wait_for

pytestmark = [requires_docker, pytest.mark.docker]
SOAK_MINUTES = float(os.environ.get("SOAK_MINUTES", "2.5"))
# To compare another broker under the same soak (say filesystem://); empty: the embedded one.
SOAK_BROKER_URL = os.environ.get("SOAK_BROKER_URL", "")


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    env = dict(FAST_INTERVALS)
    if SOAK_BROKER_URL:
        env["CELERY_BROKER_URL"] = SOAK_BROKER_URL
    running = Product(tmp_path_factory.mktemp("run"), env=env)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(product):
    return Api(product, product.issue_key())


def test_soak_on_the_embedded_broker_no_process_dies(product):
    result = run_soak(product, SOAK_MINUTES, log=lambda line: print(line, flush=True))
    print(result.line())
    assert result.exits == {}, f"processes exited: {result.exits}\n{product.supervisor_log()}"
    assert result.worker_crashes == 0
    assert result.steady.failed == 0, result.steady.errors
    assert result.auto.failed == 0, result.auto.errors
    assert result.steady.requests > 1000
    # The mix really happened: replicas were killed and replaced, the autoscaler moved,
    # deployments came and went.
    assert result.kills >= 1
    assert result.max_auto_replicas >= 2
    # A liveness floor, not a speed test: each cycle is about six task hops through the
    # broker. On Redis this soak completes about 10 a minute on a 2-core machine; a broker
    # that delays every hop (kombu's file-system transport polls) manages about 1.
    assert result.cycles >= 3 * SOAK_MINUTES


def _containers(instance: str, deployment_pk: str) -> list:
    engine = docker.from_env()
    try:
        return engine.containers.list(
            filters={
                "label": [
                    f"orchestration.instance={instance}",
                    f"orchestration.deployment={deployment_pk}",
                ]
            }
        )
    finally:
        engine.close()


def test_worker_killed_mid_deploy_is_restarted_and_the_deployment_converges(product, api):
    api.cli("nodepool", "create", "soak", "kill", "--cpu", "2", "--memory", "2Gi")
    api.cli(
        "node", "add", "soak", "kill", "local",
        "--engine-url", "unix:///var/run/docker.sock", "--address", "127.0.0.1",
    )  # fmt: skip
    exits_before = product.exits().get("worker", 0)
    api.deploy("killed", "noop", "soak", "kill", min_replicas=3, max_replicas=3)
    wait_for(
        lambda: any(
            r["state"] in ("pending", "starting") for r in api.deployment("killed")["replicas"]
        ),
        timeout=30,
        interval=0.05,
        message="a replica being started",
    )
    worker_pid = int(product.supervisorctl("pid", "worker"))
    os.kill(worker_pid, signal.SIGKILL)

    wait_for(
        lambda: product.exits().get("worker", 0) == exits_before + 1,
        timeout=30,
        message="supervisord noticing the killed worker",
    )
    assert re.search(
        r"exited: worker \(terminated by SIGKILL; not expected\)", product.supervisor_log()
    )
    wait_for(
        lambda: (
            "RUNNING" in product.supervisorctl("status", "worker")
            and int(product.supervisorctl("pid", "worker")) != worker_pid
        ),
        timeout=60,
        message="the worker started again",
    )
    api.wait_ready("killed", 3, timeout=240)
    pk = product.django(
        "from orchestration.deployments.models import Deployment\n"
        "print(Deployment.objects.get(slug='killed').pk)"
    ).splitlines()[-1]
    # Two more reconcile rounds (2 s apart here) must not add or drop containers.
    time.sleep(6)
    assert len(_containers(product.instance, pk)) == 3
    assert api.deployment("killed")["ready_replicas"] == 3
    # The rest kept serving: web and beat were never restarted.
    assert "web" not in product.exits() and "beat" not in product.exits()


def test_the_run_command_serves_the_grpc_api_to_the_clarifai_client(product, api):
    """clarifai-grpc's own channel against the run command's gRPC process, on GRPC_PORT."""
    import grpc
    from clarifai_grpc.channel import clarifai_channel
    from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
    from clarifai_grpc.grpc.api.status import status_code_pb2

    clarifai_channel.wrap_response_deserializer = clarifai_channel._response_deserializer_for_grpc
    channel = grpc.insecure_channel(f"127.0.0.1:{product.env['GRPC_PORT']}")
    stub = service_pb2_grpc.V2Stub(channel)
    metadata = (("authorization", f"Key {api.key}"),)
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id="main"),
        model_id="noop",
        runner_selector=resources_pb2.RunnerSelector(
            deployment=resources_pb2.Deployment(id="steady")
        ),
        inputs=[resources_pb2.Input(data=resources_pb2.Data(text={"raw": "what a lovely day"}))],
    )
    try:
        answer = wait_for(
            lambda: _grpc_answer(stub, request, metadata), timeout=30, message="gRPC answers"
        )
        assert answer.status.code == status_code_pb2.SUCCESS, answer.status
        assert len(answer.outputs) == 1
        assert answer.outputs[0].status.code == status_code_pb2.SUCCESS
        bad = stub.PostModelOutputs(request, metadata=(("authorization", "Key orc_nope"),))
        assert bad.status.code == status_code_pb2.CONN_KEY_INVALID
    finally:
        channel.close()


def test_the_run_command_exports_every_processs_metrics(product, api):
    """/metrics of the run command sums its processes: the web workers' HTTP traffic, the
    gRPC server's calls (the test before this one) and the Celery worker's decisions."""
    import httpx

    from tests.metrics.support import samples, total

    scrape = samples(httpx.get(f"{product.url}/metrics", timeout=30).text)
    http = total(scrape, "orchestration_predict_requests_total", transport="http", code="200")
    assert http > 1000  # the soak's
    grpc_ok = total(scrape, "orchestration_predict_requests_total", transport="grpc", code="200")
    assert grpc_ok >= 1
    assert total(scrape, "orchestration_predict_requests_total", transport="grpc", code="401") >= 1
    assert total(scrape, "orchestration_autoscaler_decisions_total") > 0
    assert total(scrape, "orchestration_replicas", deployment="steady", state="ready") >= 1
    # Served to this host only: a request that came through a proxy is refused.
    proxied = httpx.get(f"{product.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403


def _grpc_answer(stub, request, metadata):
    import grpc

    try:
        return stub.PostModelOutputs(request, metadata=metadata, timeout=20)
    except grpc.RpcError:
        return None  # the gRPC process is still starting


def test_ctrl_c_stops_everything_but_replicas_and_the_next_start_adopts_them(product, api):
    pk = product.django(
        "from orchestration.deployments.models import Deployment\n"
        "print(Deployment.objects.get(slug='steady').pk)"
    ).splitlines()[-1]
    before = sorted(c.id for c in _containers(product.instance, pk))
    assert len(before) == 2

    assert product.interrupt() == 130  # the shell's code for "stopped by Ctrl-C"
    assert product.leftover_processes() == []
    assert not (product.var_dir / "redis" / "redis.sock").exists()
    assert sorted(c.id for c in _containers(product.instance, pk)) == before

    product.start()
    api.wait_ready("steady", 2)
    time.sleep(5)  # a few reconcile rounds: the same containers are kept, none added
    assert sorted(c.id for c in _containers(product.instance, pk)) == before


# -- the broker that cannot start: one line naming the cause and the fix, non-zero exit --


def _run(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    clean.update({"ORCHESTRATION_VAR_DIR": str(tmp_path), "PORT": "1", **env})
    return subprocess.run(
        [str(ROOT / "scripts" / "run")],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_missing_broker_binary_is_one_clear_line(tmp_path):
    result = _run(tmp_path, PORT=_free_port(), REDIS_SERVER="/nonexistent/redis-server")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert "/nonexistent/redis-server, which is not installed" in errors[0]
    assert "apt-get install redis-server" in errors[0]
    assert "CELERY_BROKER_URL" in errors[0]


def test_broker_socket_in_use_is_one_clear_line(tmp_path):
    (tmp_path / "redis").mkdir()
    path = tmp_path / "redis" / "redis.sock"
    with socket.socket(socket.AF_UNIX) as taken:
        taken.bind(str(path))
        taken.listen()
        result = _run(tmp_path, PORT=_free_port())
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert f"socket {path} is in use" in errors[0]
    assert "ORCHESTRATION_VAR_DIR" in errors[0]


def test_port_taken_is_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = _run(tmp_path, PORT=port)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert "PORT=" in result.stderr


def test_a_broker_that_fails_to_start_stops_the_run_command(tmp_path):
    """A redis-server that exits at once (here: `false`) ends the run with one line."""
    result = _run(tmp_path, PORT=_free_port(), REDIS_SERVER="/bin/false")
    assert result.returncode == 1, result.stdout[-2000:]
    assert "the embedded broker (/bin/false" in result.stderr
    assert "did not start" in result.stderr
    assert not list(tmp_path.glob("supervisord.pid"))
