"""What a deployment on a swarm nodepool asks of Swarm, and what Swarm's tasks mean for
its replicas: plain functions, tested without Docker (runtime_swarm.py acts on them)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace

from orchestration.deployments.containers import (
    LABEL_MANAGED,
    LABEL_VERSION,
    container_labels,
    replica_environment,
)
from orchestration.deployments.models import ReplicaState
from orchestration.docker_engine.swarm import ServiceSpec, SwarmTask

LABEL_SPEC = "orchestration.spec"

# Swarm's task states (swarmkit api.TaskState), grouped by what they mean for a replica.
WAITING = frozenset({"new", "pending"})
STARTING = frozenset({"assigned", "accepted", "preparing", "ready", "starting"})
ENDED = frozenset({"complete", "shutdown", "remove"})
FAILED = frozenset({"failed", "rejected", "orphaned"})


def service_name(instance_id: str, deployment_id: int, slug: str) -> str:
    """Unique per installation in a shared swarm; Swarm allows 63 characters."""
    return f"orch-{instance_id[:8]}-{deployment_id}-{slug}"[:63].rstrip("-_")


def service_spec(
    *,
    instance_id: str,
    deployment_id: int,
    slug: str,
    version_id: str,
    image: str,
    cpu: float,
    memory_bytes: int,
    target_concurrency: int,
    config: object,
    replicas: int,
    constraints: tuple[str, ...],
) -> ServiceSpec:
    labels = container_labels(deployment_id)
    env = replica_environment(target_concurrency, config)
    # numpy/BLAS size their thread pools by the host's cores, not the task's CPU limit.
    threads = str(max(1, math.ceil(cpu)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    spec = ServiceSpec(
        name=service_name(instance_id, deployment_id, slug),
        image=image,
        labels={LABEL_MANAGED: "true", **labels},
        container_labels={LABEL_MANAGED: "true", **labels, LABEL_VERSION: version_id},
        env=env,
        cpu=cpu,
        memory_bytes=memory_bytes,
        replicas=replicas,
        constraints=constraints,
    )
    return replace(spec, labels={**spec.labels, LABEL_SPEC: spec_hash(spec)})


def spec_hash(spec: ServiceSpec) -> str:
    """What the tasks run, less the replica count: a change rolls the tasks over; a
    count alone only scales."""
    fields = asdict(spec)
    for volatile in ("replicas", "labels"):
        fields.pop(volatile)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TaskReplica:
    """What a task is as a replica: its state, and why it waits or failed."""

    state: str
    reason: str = ""


def task_replica(task: SwarmTask) -> TaskReplica:
    """A running task is a replica only while Swarm wants it running: one Swarm is
    stopping (a scale-down, a rollover, a drained node) is draining, so the router stops
    sending it requests before it goes."""
    wanted = task.desired_state in ("running", "ready", "")
    if task.state == "running":
        if not wanted:
            return TaskReplica(ReplicaState.DRAINING)
        if task.published_port is None:
            return TaskReplica(ReplicaState.STARTING, "its port is not published yet")
        return TaskReplica(ReplicaState.READY)
    if task.state in FAILED:
        return TaskReplica(ReplicaState.FAILED, _why(task))
    if task.state in ENDED:
        if task.desired_state == "running" and task.exit_code not in (None, 0):
            return TaskReplica(ReplicaState.FAILED, _why(task))
        return TaskReplica(ReplicaState.STOPPED)
    if not wanted:
        # Never ran and Swarm no longer wants it.
        return TaskReplica(ReplicaState.STOPPED)
    if task.state in WAITING:
        return TaskReplica(ReplicaState.PENDING, _pending_reason(task))
    return TaskReplica(ReplicaState.STARTING)


def _why(task: SwarmTask) -> str:
    parts = [task.error or task.message or f"task {task.state}"]
    if task.exit_code not in (None, 0):
        parts.append(f"exit code {task.exit_code}")
    return "; ".join(parts)


def _pending_reason(task: SwarmTask) -> str:
    if task.error:
        # "no suitable node (insufficient resources on 2 nodes)" and the like.
        return f"Swarm cannot place a replica: {task.error}"
    return ""


def converged(states: list[str], desired: int, update_state: str) -> bool:
    """Nothing for a follow-up reconcile to watch: as many ready as desired, none
    coming or going, no rolling update under way."""
    ready = sum(1 for s in states if s == ReplicaState.READY)
    moving = any(
        s in (ReplicaState.PENDING, ReplicaState.STARTING, ReplicaState.DRAINING) for s in states
    )
    return ready == desired and not moving and update_state not in ("updating", "rollback_started")
