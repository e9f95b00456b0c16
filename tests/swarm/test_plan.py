"""The swarm runtime's plain planning: service specs and what a task means as a replica."""

from __future__ import annotations

import pytest

from orchestration.deployments import swarm_plan
from orchestration.deployments.models import ReplicaState
from orchestration.docker_engine.swarm import SwarmNode, SwarmTask, _service_args
from orchestration.nodepools.swarm_nodes import label_constraints, matches, node_names


def _spec(**overrides):
    args = {
        "instance_id": "abcdef0123456789",
        "deployment_id": 7,
        "slug": "sent",
        "version_id": "v1abc",
        "image": "orchestration/model-sent:1",
        "cpu": 0.5,
        "memory_bytes": 256 * 1024**2,
        "target_concurrency": 4,
        "config": {},
        "replicas": 2,
        "constraints": (),
    }
    return swarm_plan.service_spec(**{**args, **overrides})


def _task(state="running", desired="running", port=30001, **kw):
    fields = {
        "id": "t1",
        "node_id": "n1",
        "state": state,
        "desired_state": desired,
        "message": kw.pop("message", ""),
        "error": kw.pop("error", ""),
        "container_id": "c1",
        "published_port": port,
        "labels": {},
        "created_at": "",
        "exit_code": kw.pop("exit_code", None),
    }
    return SwarmTask(**fields)


def test_the_replica_count_alone_does_not_change_the_spec_hash():
    two, five = _spec(replicas=2), _spec(replicas=5)
    assert two.labels[swarm_plan.LABEL_SPEC] == five.labels[swarm_plan.LABEL_SPEC]
    for change in ({"image": "orchestration/model-sent:2"}, {"cpu": 1.0}, {"target_concurrency": 8},
                   {"constraints": ("node.labels.gpu==a10g",)}):  # fmt: skip
        assert _spec(**change).labels[swarm_plan.LABEL_SPEC] != two.labels[swarm_plan.LABEL_SPEC]


def test_service_names_are_unique_per_installation_and_fit_swarm():
    name = swarm_plan.service_name("abcdef0123456789", 12, "x" * 80)
    assert name.startswith("orch-abcdef01-12-") and len(name) <= 63
    assert swarm_plan.service_name("11111111", 12, "a") != swarm_plan.service_name(
        "22222222", 12, "a"
    )


def test_the_service_is_hardened_health_checked_host_published_and_rolls_start_first():
    spec = _spec(constraints=("node.labels.pool==cpu",))
    args = _service_args(spec)
    container = args["task_template"]["ContainerSpec"]
    assert container["User"] == "10001:10001"
    assert container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    assert container["Mounts"][0]["Target"] == "/tmp" and container["Mounts"][0]["Type"] == "tmpfs"
    assert "healthz" in " ".join(container["Healthcheck"]["Test"])
    assert "OMP_NUM_THREADS=1" in container["Env"] and "MODEL_CONCURRENCY=4" in container["Env"]
    resources = args["task_template"]["Resources"]
    assert resources["Limits"]["NanoCPUs"] == 500_000_000
    assert resources["Reservations"]["MemoryBytes"] == 256 * 1024**2
    assert resources["Limits"]["Pids"] == 256
    assert args["task_template"]["Placement"]["Constraints"] == ["node.labels.pool==cpu"]
    (port,) = args["endpoint_spec"]["Ports"]
    assert port["PublishMode"] == "host" and port["TargetPort"] == 8080
    assert "PublishedPort" not in port  # the engine picks one per task
    update = args["update_config"]
    assert update["Order"] == "start-first" and update["Parallelism"] == 1
    assert args["mode"]["replicated"]["Replicas"] == 2


@pytest.mark.parametrize(
    ("task", "state"),
    [
        (_task(), ReplicaState.READY),
        (_task(port=None), ReplicaState.STARTING),
        (_task(desired="shutdown"), ReplicaState.DRAINING),
        (_task(state="starting"), ReplicaState.STARTING),
        (_task(state="preparing"), ReplicaState.STARTING),
        (
            _task(state="pending", error="no suitable node (insufficient resources on 2 nodes)"),
            ReplicaState.PENDING,
        ),  # fmt: skip
        (_task(state="failed", error="task: non-zero exit (1)", exit_code=1), ReplicaState.FAILED),
        (_task(state="rejected", error="No such image: x"), ReplicaState.FAILED),
        (_task(state="shutdown", desired="shutdown"), ReplicaState.STOPPED),
        (_task(state="complete", desired="shutdown", exit_code=0), ReplicaState.STOPPED),
        (_task(state="pending", desired="shutdown"), ReplicaState.STOPPED),
    ],
)
def test_what_a_task_is_as_a_replica(task, state):
    assert swarm_plan.task_replica(task).state == state


def test_a_task_that_cannot_be_placed_says_why():
    waiting = swarm_plan.task_replica(
        _task(state="pending", error="no suitable node (insufficient resources on 2 nodes)")
    )
    assert waiting.reason == (
        "Swarm cannot place a replica: no suitable node (insufficient resources on 2 nodes)"
    )


def test_converged_only_with_the_desired_ready_and_nothing_moving():
    ready = ReplicaState.READY
    assert swarm_plan.converged([ready, ready], 2, "completed")
    assert not swarm_plan.converged([ready], 2, "")
    assert not swarm_plan.converged([ready, ready, ReplicaState.DRAINING], 2, "")
    assert not swarm_plan.converged([ready, ready], 2, "updating")
    assert swarm_plan.converged([], 0, "")


def _node(node_id, hostname, labels=None):
    return SwarmNode(
        node_id, hostname, "worker", "ready", "active", "127.0.0.1", 2.0, 1, labels or {}
    )


def test_node_names_are_hostnames_made_unique_where_engines_share_a_host():
    names = node_names([_node("AAAAAA11", "Host.Example"), _node("BBBBBB22", "Host.Example"),
                        _node("CCCCCC33", "gpu-box")])  # fmt: skip
    assert names == {
        "AAAAAA11": "host-example-aaaaaa",
        "BBBBBB22": "host-example-bbbbbb",
        "CCCCCC33": "gpu-box",
    }


def test_node_labels_become_constraints_and_select_nodes():
    assert label_constraints(["pool=cpu", "zone=a"]) == (
        "node.labels.pool==cpu",
        "node.labels.zone==a",
    )
    node = _node("A", "h", {"pool": "cpu", "zone": "a"})
    assert matches(node, ["pool=cpu"]) and matches(node, [])
    assert not matches(node, ["pool=gpu"])
