"""Schemathesis against /api/v1/openapi.json, in process: no 5xx for any generated request,
and every response matches the schema (status code documented, content type, body)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
KNOWN_IDS = {
    "cluster_id": "east",
    "nodepool_id": "cpu",
    "name": "node-1",
    "model_id": "sentiment",
    "version_id": "1",
    "deployment_id": "dep",
}


# Loaded at collection: the schema view touches no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Calling the WSGI app directly fires request_started, whose close_old_connections
    would close the test transaction's connection; Django's test client unhooks it too."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(owner, compute, ready_model, make_deployment, make_nodepool):
    make_nodepool(compute.cluster, "gpu")
    make_deployment(owner, ready_model.model, ready_model.version, compute.nodepool, "dep")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
@pytest.mark.django_db
def test_api_never_fails(case, fuzz_world, owner_key):
    headers = {"Authorization": f"Key {owner_key}"}
    # As generated (mostly unknown ids: 404s and 400s) ...
    case.call_and_validate(headers=headers, checks=CHECKS)
    # ... and against objects that exist, so updates and deletes get exercised too.
    if case.path_parameters:
        case.path_parameters = {
            name: KNOWN_IDS.get(name, value) for name, value in case.path_parameters.items()
        }
        case.call_and_validate(headers=headers, checks=CHECKS)
