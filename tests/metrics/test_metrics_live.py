"""/metrics of a live server with two web worker processes, after real predictions.

The predictions run on a real replica in Docker through uvicorn with `--workers 2`, each
request on its own connection, until both workers have served some; the scrape (which
either worker may answer) must count every request sent, whichever process served it.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import NodeStatus
from tests.conftest import ROOT, free_port, reconcile_until_ready, requires_docker, wait_for
from tests.metrics.support import samples, total

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"


@pytest.fixture
def metrics_dir(tmp_path, monkeypatch) -> Path:
    """Before the worker starts, so it (and the web server) record into the same files."""
    path = tmp_path / "metrics"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return path


@pytest.fixture
def two_worker_server(metrics_dir, celery_worker_process):
    port = free_port()
    env = dict(celery_worker_process.env, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    env["TRAFFIC_FLUSH_SECONDS"] = "1"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "orchestration.asgi:application",
            "--http",
            "orchestration.http_protocol:HttpProtocol",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None

    try:
        wait_for(up, timeout=60, message="uvicorn to answer")
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read())
        workers = wait_for(lambda: len(_children(proc.pid)) == 2 and _children(proc.pid))
        yield url, workers
    finally:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    sys.stderr.write(out[-4000:])


@pytest.fixture
def deployment(
    owner, make_cluster, make_nodepool, make_node, version_from_example, make_deployment
):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu", cpu_cores=4)
    make_node(pool, "local", engine_url=ENGINE, cpu_capacity=4, status=NodeStatus.READY)
    model, version = version_from_example(owner, "sentiment")
    dep = make_deployment(owner, model, version, pool, slug="sent", min_replicas=1)
    yield dep
    for dep in Deployment.objects.all():
        for c in docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)):
            docker_engine.stop_and_remove(ENGINE, c.id, timeout=1)


def _children(pid: int) -> set[int]:
    """uvicorn's worker processes (its other child is multiprocessing's resource tracker)."""
    children = {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    return {c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()}


def _recording(path: Path) -> set[int]:
    """Processes that have recorded some count (each writes its own counter_<pid>.db)."""
    return {int(p.stem.rsplit("_", 1)[1]) for p in path.glob("counter_*.db")}


def test_a_scrape_counts_every_request_across_two_web_workers(
    two_worker_server, deployment, owner, metrics_dir
):
    server, workers = two_worker_server
    reconcile_until_ready(deployment)
    key = AccessToken.issue(owner, "tests")[1]
    url = f"{server}/v2/models/sentiment/outputs"
    body = {
        "inputs": [{"data": {"text": {"raw": "a lovely day"}}}],
        "runner_selector": {"deployment": {"id": "sent"}},
    }

    def predict(_) -> int:
        # A client per request: a new connection, which either worker may accept.
        with httpx.Client(timeout=60) as client:
            return client.post(url, json=body, headers={"Authorization": f"Key {key}"}).status_code

    codes: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        while len(codes) < 600 and (len(codes) < 40 or workers - _recording(metrics_dir)):
            codes += pool.map(predict, range(40))
    assert set(codes) == {200}
    assert workers <= _recording(metrics_dir), "one web worker served every request"
    # Two refused requests, counted before any deployment is known: a bad key, and a
    # deployment that does not exist.
    assert httpx.post(url, json=body, headers={"Authorization": "Key nope"}).status_code == 401
    missing = dict(body, runner_selector={"deployment": {"id": "nope"}})
    assert httpx.post(url, json=missing, headers={"Authorization": f"Key {key}"}).status_code == 404

    labels = {"deployment": "sent", "owner": "owner", "model": "sentiment", "nodepool": "east/cpu"}

    def scrape() -> dict:
        response = httpx.get(f"{server}/metrics", timeout=30)
        assert response.status_code == 200
        return samples(response.text)

    first = scrape()
    ok = total(
        first, "orchestration_predict_requests_total", code="200", transport="http", **labels
    )
    assert ok == len(codes)
    assert total(first, "orchestration_predict_requests_total", code="401", deployment="") == 1
    assert total(first, "orchestration_predict_requests_total", code="404", deployment="") == 1
    assert total(first, "orchestration_predict_latency_seconds_count", **labels) == len(codes)
    assert total(first, "orchestration_replica_latency_seconds_count", **labels) == len(codes)
    assert total(first, "orchestration_predict_in_flight", **labels) == 0
    assert total(first, "orchestration_replicas", state="ready", **labels) == 1
    # The same answer whichever worker serves the scrape.
    second = scrape()
    ok_again = total(
        second, "orchestration_predict_requests_total", code="200", transport="http", **labels
    )
    assert ok_again == ok
    # The traffic reached the autoscaler, which runs in the Celery worker process.
    wait_for(
        lambda: total(scrape(), "orchestration_autoscaler_decisions_total") > 0,
        timeout=30,
        message="an autoscaler decision recorded by the worker process",
    )
    assert _recording(metrics_dir) - workers, "the worker process recorded nothing"
