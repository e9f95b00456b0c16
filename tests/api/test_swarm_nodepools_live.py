"""Swarm nodepools through the API against a real swarm: the default engine
(unix:///var/run/docker.sock) is a manager, unix:///var/run/docker-node2.sock a worker
(`scripts/start-swarm` sets this up). Skipped when the default engine manages no swarm.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from orchestration.nodepools import swarm_nodes
from orchestration.nodepools.models import Nodepool
from tests.conftest import requires_docker

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.django_db]

MANAGER = "unix:///var/run/docker.sock"
WORKER = "unix:///var/run/docker-node2.sock"
NOWHERE = "unix:///var/run/nothing-here.sock"
POOLS = "clusters/east/nodepools/"


def _docker_info(template: str) -> str:
    if not shutil.which("docker"):
        return ""
    result = subprocess.run(
        ["docker", "info", "--format", template], capture_output=True, text=True, timeout=30
    )
    return result.stdout.strip() if result.returncode == 0 else ""


@pytest.fixture(autouse=True)
def live_swarm():
    answer = _docker_info("{{.Swarm.ControlAvailable}}")
    if answer != "true":
        pytest.skip(
            "the default Docker engine manages no swarm (docker info says "
            f"Swarm.ControlAvailable={answer or 'nothing'}); scripts/start-swarm makes one"
        )


@pytest.fixture
def east(owner, make_cluster):
    return make_cluster(owner, "east")


def _refused(response, field: str) -> str:
    assert response.status_code == 400, response.content
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field in errors, errors
    assert Nodepool.objects.count() == 0  # nothing half-made
    return errors[field]


def test_a_manager_url_makes_a_swarm_nodepool(owner_api, east):
    response = owner_api.post(POOLS, {"id": "swarm", "runtime": "swarm", "manager_url": MANAGER})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["runtime"], body["manager_url"], body["node_labels"]) == ("swarm", MANAGER, [])
    pool = Nodepool.objects.get(cluster=east, slug="swarm")

    # The swarm's nodes, mirrored from the manager, come out with their availability.
    swarm_nodes.sync(pool)
    nodes = owner_api.items(POOLS + "swarm/nodes/")
    assert nodes, "the manager listed no node"
    assert all(n["availability"] in ("active", "pause", "drain") for n in nodes), nodes
    assert _docker_info("{{.Swarm.NodeID}}") in {n["swarm_node_id"] for n in nodes}


def test_a_workers_engine_is_refused_as_manager(owner_api, east):
    response = owner_api.post(POOLS, {"id": "swarm", "runtime": "swarm", "manager_url": WORKER})
    message = _refused(response, "manager_url")
    assert "worker" in message, message


def test_an_unreachable_manager_is_refused(owner_api, east):
    response = owner_api.post(POOLS, {"id": "swarm", "runtime": "swarm", "manager_url": NOWHERE})
    message = _refused(response, "manager_url")
    assert NOWHERE in message, message


def test_labels_no_node_carries_are_refused(owner_api, east):
    response = owner_api.post(
        POOLS,
        {
            "id": "swarm",
            "runtime": "swarm",
            "manager_url": MANAGER,
            "node_labels": ["no.such=label"],
        },
    )
    message = _refused(response, "node_labels")
    assert "no.such=label" in message, message
