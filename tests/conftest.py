"""Shared test base: an owner, another user and a visitor, plus small object factories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _no_containers_from_earlier_runs():
    """Remove containers that earlier test runs on this engine left behind.

    Test databases restart their ids at 1, so a leftover container could claim to be a
    new run's replica. Only this test database's own installation label is touched.
    """
    if not docker_available():
        return
    from django.conf import settings

    from orchestration import docker_engine
    from orchestration.deployments.containers import LABEL_INSTANCE

    engines = ["unix:///var/run/docker.sock"]
    if os.environ.get("NODE2_DOCKER_URL"):
        engines.append(os.environ["NODE2_DOCKER_URL"])
    for url in engines:
        try:
            for c in docker_engine.list_containers(url, {LABEL_INSTANCE: settings.INSTANCE_ID}):
                docker_engine.stop_and_remove(url, c.id, timeout=1)
        except docker_engine.EngineError:
            pass


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    """Rate limits off unless a test sets them: suites (schemathesis, the fuzzers) send
    far more requests per key than any limit meant for clients allows."""
    settings.PREDICT_RATE_LIMIT = 0
    settings.API_RATE_LIMIT = 0


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("owner", "owner@example.com", "owner-pass-123")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("other", "other@example.com", "other-pass-123")


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-123")


@pytest.fixture
def owner_client(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def other_client(other_user) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


@pytest.fixture
def visitor_client(db) -> Client:
    return Client()


@dataclass
class Team:
    """An organization with one user per role, and an outsider; ``client(role)`` is a
    logged-in client already switched to the organization (the outsider's stays
    personal: it cannot switch there)."""

    organization: object
    account: object
    users: dict

    ROLES = ("owner", "admin", "member", "viewer")

    @property
    def slug(self) -> str:
        return self.account.username

    def client(self, role: str) -> Client:
        client = Client()
        client.force_login(self.users[role])
        if role != "outsider":
            response = client.post("/account/space/", {"space": self.slug})
            assert response.status_code == 302, response
        return client

    def key(self, role: str, *, scoped: bool = True) -> str:
        """A key of that role's user, scoped to the organization unless told otherwise
        (the outsider's is personal: it may not scope one)."""
        from orchestration.accounts.actions import issue_token

        scope = self.organization if scoped and role != "outsider" else None
        return issue_token(self.users[role], f"{role}-key", organization=scope)[1]


@pytest.fixture
def team(db) -> Team:
    """The shared test base's organization `acme`: owner, admin, member, viewer, outsider."""
    from orchestration.accounts import org_actions

    User = get_user_model()  # noqa: N806
    users = {
        role: User.objects.create_user(f"team-{role}", f"{role}@acme.test", f"{role}-pass-123")
        for role in (*Team.ROLES, "outsider")
    }
    space = org_actions.create_organization(users["owner"], slug="acme", name="Acme ML")
    for role in ("admin", "member", "viewer"):
        org_actions.add_member(space, who=users[role].username, role=role)
    return Team(space.organization, space.account, users)


class FakeSwarmCheck:
    """Stands in for nodepools.swarm_nodes.check (what the actions ask a Swarm manager):
    records (manager_url, node_labels); raises ``problem`` when one is set."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.problem = None

    def __call__(self, manager_url: str, node_labels: list[str]) -> list:
        self.calls.append((manager_url, list(node_labels)))
        if self.problem is not None:
            raise self.problem
        return []


@pytest.fixture
def swarm_check(monkeypatch) -> FakeSwarmCheck:
    """The Swarm manager is not contacted: swarm_nodes.check is a FakeSwarmCheck."""
    from orchestration.nodepools import swarm_nodes

    fake = FakeSwarmCheck()
    monkeypatch.setattr(swarm_nodes, "check", fake)
    return fake


@pytest.fixture
def make_cluster(db):
    from orchestration.clusters.models import Cluster

    def make(owner, slug="east", **kw):
        kw.setdefault("cloud_provider", "aws")
        kw.setdefault("region", "us-east-1")
        return Cluster.objects.create(owner=owner, slug=slug, **kw)

    return make


@pytest.fixture
def make_nodepool(db):
    from orchestration.nodepools.models import Nodepool

    def make(cluster, slug="cpu", **kw):
        kw.setdefault("instance_type", "t3.large")
        kw.setdefault("cpu_cores", Decimal("2"))
        kw.setdefault("memory_bytes", 8 * 1024**3)
        kw.setdefault("price_per_hour", Decimal("0.0832"))
        return Nodepool.objects.create(cluster=cluster, slug=slug, **kw)

    return make


@pytest.fixture
def make_node(db):
    from orchestration.nodepools.models import Node

    def make(nodepool, name="node-1", **kw):
        kw.setdefault("engine_url", "unix:///var/run/docker.sock")
        kw.setdefault("address", "127.0.0.1")
        kw.setdefault("cpu_capacity", nodepool.cpu_cores)
        kw.setdefault("memory_capacity_bytes", nodepool.memory_bytes)
        return Node.objects.create(nodepool=nodepool, name=name, **kw)

    return make


@pytest.fixture
def make_model(db):
    from django.core.files.base import ContentFile

    from orchestration.catalog.models import BuildStatus, Model, ModelVersion

    def make(owner, slug="sentiment", *, status=BuildStatus.READY, image="", **kw):
        model, _ = Model.objects.get_or_create(owner=owner, slug=slug, defaults=kw)
        version = ModelVersion(
            model=model,
            content_hash="0" * 64,
            build_status=status,
            image=image,
            config={"model": {"id": slug}},
        )
        version.upload.save("upload.tar.gz", ContentFile(b"not used"), save=False)
        version.save()
        return model, version

    return make


@pytest.fixture
def make_deployment(db):
    from orchestration.deployments.models import Deployment

    def make(owner, model, version, nodepool, slug="dep", **kw):
        return Deployment.objects.create(
            owner=owner, slug=slug, model=model, model_version=version, nodepool=nodepool, **kw
        )

    return make


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


requires_docker = pytest.mark.skipif(
    os.environ.get("REQUIRE_DOCKER") != "1" and not docker_available(),
    reason="no Docker engine answers (the test command starts one)",
)


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real Celery worker process on the real broker, sharing the test database."""
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "amqp://")):
        pytest.skip("set CELERY_BROKER_URL to Redis or RabbitMQ for real-worker tests")
    db = connection.settings_dict
    env = dict(os.environ)
    if db["ENGINE"].endswith("postgresql"):
        host = db["HOST"] or "127.0.0.1"
        env["DATABASE_URL"] = f"postgresql://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        pytest.skip("real-worker tests need PostgreSQL (DATABASE_URL)")
    env["CELERY_TASK_ALWAYS_EAGER"] = "0"
    # Same container labels as this process, though the worker sees the test database name.
    env["ORCHESTRATION_INSTANCE"] = settings.INSTANCE_ID
    queue = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env["CELERY_TASK_DEFAULT_QUEUE"] = queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    from orchestration.celery import app

    app.conf.task_default_queue = queue
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "orchestration",
            "worker",
            "-Q",
            queue,
            "--pool",
            "threads",
            "--concurrency",
            "4",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.env = env
    yield proc
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    app.conf.task_default_queue = "celery"
    sys.stderr.write(out[-4000:])


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")


def reconcile_until_ready(deployment, n: int = 1, timeout: float = 90):
    """Queue a reconcile (a live Celery worker runs it) and wait for n READY replicas."""
    from orchestration.deployments.models import ReplicaState
    from orchestration.deployments.tasks import reconcile_deployment

    reconcile_deployment.delay(deployment.pk)
    wait_for(
        lambda: deployment.replicas.filter(state=ReplicaState.READY).count() >= n,
        timeout=timeout,
        message=f"{n} ready replica(s) of {deployment.slug}",
    )


@pytest.fixture
def version_from_example(db):
    """A model version made from `examples/<name>` and built into an image for real."""
    from django.core.files.base import ContentFile

    from orchestration.catalog.models import BuildStatus, Model, ModelVersion
    from orchestration.catalog.tasks import build_model_version
    from orchestration.catalog.upload import UploadLimits, load_upload, pack_folder

    def make(owner, name: str | Path = "sentiment", *, build: bool = True):
        source = name if isinstance(name, Path) else ROOT / "examples" / name
        upload = load_upload(source, Path(_tmpdir()) / "x", UploadLimits())
        model, _ = Model.objects.get_or_create(
            owner=owner, slug=upload.model_id, defaults={"description": upload.description}
        )
        version = ModelVersion(
            model=model,
            config=upload.config,
            content_hash=upload.content_hash,
            cpu_request=upload.cpu,
            memory_request_bytes=upload.memory_bytes,
            streams=upload.streams,
        )
        version.upload.save("upload.tar.gz", ContentFile(pack_folder(upload.root)), save=False)
        version.save()
        if build:
            build_model_version.apply(args=(version.pk,))
            version.refresh_from_db()
            assert version.build_status == BuildStatus.READY, version.build_log[-3000:]
        return model, version

    return make


def _tmpdir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="example-")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def asgi_server(celery_worker_process):
    """The real ASGI server (uvicorn) in a process, on the test database and broker queue."""
    import httpx

    port = free_port()
    env = dict(celery_worker_process.env)
    env.setdefault("COLD_START_TIMEOUT", "120")
    env.setdefault("TRAFFIC_FLUSH_SECONDS", "1")
    # Long enough that only the published revocation can refuse a revoked key in a test.
    env.setdefault("PREDICT_KEY_CACHE_SECONDS", "120")
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

    wait_for(up, timeout=30, message="uvicorn to answer")
    if proc.poll() is not None:
        raise RuntimeError(proc.stdout.read())
    yield url
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    sys.stderr.write(out[-4000:])
