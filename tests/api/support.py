"""Fixtures shared by the API and CLI tests (imported by both conftest files)."""

from __future__ import annotations

import importlib
import json
import sys
import types
from types import SimpleNamespace

import pytest
from django.test import Client

TASKS = {
    "orchestration.deployments.tasks": ("reconcile_deployment", "delete_deployment"),
    "orchestration.nodepools.tasks": ("probe_node",),
    "orchestration.catalog.tasks": ("build_model_version",),
}


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """The test users' passwords need no slow hashing (created before other fixtures run)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch):
    """Celery tasks the API queues, recorded instead of sent: [(task name, args), ...]."""
    calls: list[tuple[str, tuple]] = []
    for module_name, names in TASKS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # written by another helper; not needed to test the API
            module = types.ModuleType(module_name)
            monkeypatch.setitem(sys.modules, module_name, module)
        for name in names:

            def delay(*args, _name=name, **kwargs):
                calls.append((_name, args))

            monkeypatch.setattr(module, name, SimpleNamespace(delay=delay), raising=False)
    return calls


class ApiClient:
    """Django's test client speaking JSON to /api/v1/, with an optional key."""

    def __init__(self, key: str | None = None, client: Client | None = None):
        self.client = client or Client()
        self.headers = {"Authorization": f"Key {key}"} if key else {}

    def _url(self, path: str) -> str:
        return path if path.startswith("/") else "/api/v1/" + path

    def get(self, path, **kw):
        return self.client.get(self._url(path), headers=self.headers, **kw)

    def items(self, path) -> list:
        """A list endpoint's first page, checked to be complete (count == len(items))."""
        response = self.get(path)
        assert response.status_code == 200, response.content
        page = response.json()
        assert page["count"] == len(page["items"]), page
        return page["items"]

    def delete(self, path):
        return self.client.delete(self._url(path), headers=self.headers)

    def _send(self, method, path, body):
        return getattr(self.client, method)(
            self._url(path),
            data=json.dumps(body),
            content_type="application/json",
            headers=self.headers,
        )

    def post(self, path, body=None):
        return self._send("post", path, body if body is not None else {})

    def patch(self, path, body):
        return self._send("patch", path, body)

    def put(self, path, body):
        return self._send("put", path, body)


@pytest.fixture
def owner_key(owner):
    from orchestration.accounts.models import AccessToken

    return AccessToken.issue(owner, "tests")[1]


@pytest.fixture
def other_key(other_user):
    from orchestration.accounts.models import AccessToken

    return AccessToken.issue(other_user, "tests")[1]


@pytest.fixture
def owner_api(owner_key) -> ApiClient:
    return ApiClient(owner_key)


@pytest.fixture
def other_api(other_key) -> ApiClient:
    return ApiClient(other_key)


@pytest.fixture
def anon_api(db) -> ApiClient:
    return ApiClient(None)


@pytest.fixture
def compute(owner, make_cluster, make_nodepool, make_node):
    """The owner's cluster `east`, nodepool `cpu` and node `node-1`."""
    cluster = make_cluster(owner, "east")
    nodepool = make_nodepool(cluster, "cpu")
    node = make_node(nodepool, "node-1")
    return SimpleNamespace(cluster=cluster, nodepool=nodepool, node=node)


@pytest.fixture
def ready_model(owner, make_model):
    """The owner's model `sentiment` with one ready version."""
    model, version = make_model(owner, "sentiment")
    return SimpleNamespace(model=model, version=version)


def deployment_body(**overrides) -> dict:
    body = {
        "id": "sent-prod",
        "description": "production",
        "model_id": "sentiment",
        "cluster_id": "east",
        "nodepool_id": "cpu",
        "autoscale_config": {"min_replicas": 1, "max_replicas": 3},
    }
    body.update(overrides)
    return body
