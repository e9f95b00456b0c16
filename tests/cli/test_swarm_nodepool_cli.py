"""`orchestrate nodepool` with the swarm runtime, against a live server.

The Swarm manager is not contacted: `swarm_nodes.check` (which the server's actions ask)
is replaced by a fake; the live server runs in this process, so the fake is the one it
calls.
"""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace

import pytest

from orchestration.nodepools import swarm_nodes
from orchestration.nodepools.models import Nodepool

MANAGER = "unix:///var/run/docker.sock"


@pytest.fixture
def synced(monkeypatch):
    """The node syncs queued once a swarm nodepool is saved (the live server commits)."""
    from orchestration.nodepools import tasks

    calls: list[tuple] = []
    monkeypatch.setattr(
        tasks, "sync_swarm_nodes", SimpleNamespace(delay=lambda *args: calls.append(args))
    )
    return calls


@pytest.fixture
def run(orchestrate, owner_key, owner, make_cluster):
    """run(*argv) -> (exit code, stdout, stderr), with the owner's cluster `east`."""
    make_cluster(owner, "east")
    return functools.partial(orchestrate, key=owner_key)


def test_create_a_swarm_nodepool(run, swarm_check, synced):
    code, out, err = run(
        "nodepool",
        "create",
        "east",
        "gpu",
        "--runtime",
        "swarm",
        "--manager-url",
        MANAGER,
        "--node-label",
        "gpu=a10g",
        "--node-label",
        "zone=b",
        "--json",
    )
    assert code == 0, err
    body = json.loads(out)
    assert (body["runtime"], body["manager_url"]) == ("swarm", MANAGER)
    assert body["node_labels"] == ["gpu=a10g", "zone=b"]
    assert swarm_check.calls == [(MANAGER, ["gpu=a10g", "zone=b"])]
    pool = Nodepool.objects.get(slug="gpu")
    assert pool.is_swarm and synced == [(pool.pk,)]

    # `get` shows the runtime and where the nodes come from; `list` the runtime.
    code, out, _ = run("nodepool", "get", "east", "gpu")
    header, row = out.splitlines()
    assert header.split()[:3] == ["ID", "CLUSTER", "RUNTIME"]
    assert "MANAGER" in header and "NODE LABELS" in header
    assert row.split()[:3] == ["gpu", "east", "swarm"]
    assert MANAGER in row and "gpu=a10g,zone=b" in row
    code, out, _ = run("nodepool", "list", "east")
    assert code == 0 and out.splitlines()[1].split()[:3] == ["gpu", "east", "swarm"]


def test_docker_is_the_default(run, swarm_check):
    assert run("nodepool", "create", "east", "cpu")[0] == 0
    code, out, _ = run("nodepool", "list", "east")
    header, row = out.splitlines()
    assert header.split()[:3] == ["ID", "CLUSTER", "RUNTIME"] and "MANAGER" not in header
    assert row.split()[:3] == ["cpu", "east", "docker"]
    code, out, _ = run("nodepool", "get", "east", "cpu")
    assert "MANAGER" not in out
    assert swarm_check.calls == []


def test_the_managers_refusal_exits_1_naming_the_field(run, swarm_check):
    swarm_check.problem = swarm_nodes.SwarmProblem(
        "unix:///var/run/docker-node2.sock: this engine is a Swarm worker, not a manager"
    )
    code, out, err = run(
        "nodepool",
        "create",
        "east",
        "gpu",
        "--runtime",
        "swarm",
        "--manager-url",
        "unix:///var/run/docker-node2.sock",
    )
    assert (code, out) == (1, "")
    assert "HTTP 400" in err and "manager_url: " in err and "Swarm worker" in err
    assert not Nodepool.objects.filter(slug="gpu").exists()


def test_a_bad_label_exits_1_naming_it(run, swarm_check):
    code, _, err = run(
        "nodepool",
        "create",
        "east",
        "gpu",
        "--runtime",
        "swarm",
        "--manager-url",
        MANAGER,
        "--node-label",
        "gpu a10g",
    )
    assert code == 1 and "node_labels.0" in err and "“gpu a10g”" in err
    assert swarm_check.calls == [] and not Nodepool.objects.filter(slug="gpu").exists()


def test_update_changes_the_labels(run, swarm_check, synced):
    assert (
        run("nodepool", "create", "east", "gpu", "--runtime", "swarm", "--manager-url", MANAGER)[0]
        == 0
    )
    code, out, err = run("nodepool", "update", "east", "gpu", "--node-label", "gpu=h100", "--json")
    assert code == 0, err
    assert json.loads(out)["node_labels"] == ["gpu=h100"]
    assert swarm_check.calls[-1] == (MANAGER, ["gpu=h100"])


def test_unknown_runtime_is_a_usage_error(run, swarm_check):
    code, _, err = run("nodepool", "create", "east", "gpu", "--runtime", "kubernetes")
    assert code == 2 and "invalid choice" in err
    assert swarm_check.calls == []
