"""Docker Swarm through a manager's engine: the swarm's nodes, one service per deployment,
and the service's tasks. Swarm schedules, restarts and replaces the tasks; this module
only states what a service should be and reads what runs.

Services publish the runner's port in host mode at a port the engine picks per task: the
routing mesh (ingress) is not used, the router reaches each task on its node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Healthcheck,
    Mount,
    Placement,
    Resources,
    RestartPolicy,
    ServiceMode,
    TaskTemplate,
    UpdateConfig,
)

from orchestration.docker_engine.client import (
    CONTAINER_PORT,
    RUNTIME_USER,
    EngineError,
    NotFoundError,
    TLSOptions,
    _client,
    _translate,
)

SECOND_NS = 1_000_000_000
# What Swarm can express of the hardening a docker-runtime replica gets (see
# docs/runtimes.md for what it cannot: no-new-privileges, a memory+swap limit).
HEALTH_INTERVAL_SECONDS = 3
HEALTH_START_PERIOD_SECONDS = 120
STOP_GRACE_SECONDS = 15


class NotAManager(EngineError):
    """The engine answered, but cannot manage a swarm (not in one, or a worker)."""


@dataclass(frozen=True)
class SwarmManager:
    node_id: str
    cluster_id: str
    nodes: int


@dataclass(frozen=True)
class SwarmNode:
    id: str
    hostname: str
    role: str  # manager | worker
    state: str  # ready | down | unknown | disconnected
    availability: str  # active | pause | drain
    address: str
    cpu: float
    memory_bytes: int
    labels: dict[str, str] = field(default_factory=dict)
    engine_version: str = ""


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    version: int
    labels: dict[str, str]
    replicas: int
    # An update in progress or paused ("updating", "paused", "completed", ...).
    update_state: str = ""
    update_message: str = ""


@dataclass(frozen=True)
class SwarmTask:
    id: str
    node_id: str
    state: str  # new ... running, complete, failed, shutdown, rejected, orphaned
    desired_state: str
    message: str
    error: str
    container_id: str
    published_port: int | None
    labels: dict[str, str]
    created_at: str
    exit_code: int | None = None


@dataclass(frozen=True)
class ServiceSpec:
    """A deployment as a Swarm service: what `create_service` and `update_service` send."""

    name: str
    image: str
    labels: dict[str, str]
    container_labels: dict[str, str]
    env: dict[str, str]
    cpu: float
    memory_bytes: int
    replicas: int
    constraints: tuple[str, ...] = ()
    pids_limit: int = 256


def manager(url: str, tls: TLSOptions | None = None) -> SwarmManager:
    """The swarm the engine at `url` manages; NotAManager when it manages none."""
    client = _client(url, tls)
    with _translate(url):
        info = client.api.info()
    swarm = info.get("Swarm") or {}
    state = swarm.get("LocalNodeState") or "inactive"
    if state != "active":
        raise NotAManager(
            url,
            f"this engine is not part of a swarm (its swarm state is {state}); run "
            "`docker swarm init` on it, or give a manager's engine URL",
        )
    if not swarm.get("ControlAvailable"):
        raise NotAManager(
            url,
            "this engine is a Swarm worker, not a manager; give a manager's engine URL "
            "(`docker node ls` on a manager lists the managers)",
        )
    return SwarmManager(
        node_id=swarm.get("NodeID") or "",
        cluster_id=(swarm.get("Cluster") or {}).get("ID") or "",
        nodes=int(swarm.get("Nodes") or 0),
    )


def nodes(url: str, tls: TLSOptions | None = None) -> list[SwarmNode]:
    client = _client(url, tls)
    with _translate(url):
        raw = client.api.nodes()
    return [_node(item) for item in raw]


def _node(item: dict[str, Any]) -> SwarmNode:
    spec, description, status = (
        item.get("Spec", {}),
        item.get("Description", {}),
        item.get("Status", {}),
    )
    resources = description.get("Resources") or {}
    return SwarmNode(
        id=item["ID"],
        hostname=description.get("Hostname") or item["ID"][:12],
        role=spec.get("Role") or "worker",
        state=status.get("State") or "unknown",
        availability=spec.get("Availability") or "active",
        address=status.get("Addr") or "",
        cpu=(resources.get("NanoCPUs") or 0) / SECOND_NS,
        memory_bytes=int(resources.get("MemoryBytes") or 0),
        labels=dict(spec.get("Labels") or {}),
        engine_version=(description.get("Engine") or {}).get("EngineVersion") or "",
    )


def find_services(
    url: str, labels: dict[str, str], tls: TLSOptions | None = None
) -> list[ServiceInfo]:
    client = _client(url, tls)
    with _translate(url):
        raw = client.api.services(filters={"label": [f"{k}={v}" for k, v in labels.items()]})
    return [_service(item) for item in raw]


def _service(item: dict[str, Any]) -> ServiceInfo:
    spec = item.get("Spec", {})
    replicated = (spec.get("Mode") or {}).get("Replicated") or {}
    update = item.get("UpdateStatus") or {}
    return ServiceInfo(
        id=item["ID"],
        version=int((item.get("Version") or {}).get("Index") or 0),
        labels=dict(spec.get("Labels") or {}),
        replicas=int(replicated.get("Replicas") or 0),
        update_state=update.get("State") or "",
        update_message=update.get("Message") or "",
    )


def _task_template(spec: ServiceSpec) -> TaskTemplate:
    health = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}/healthz', timeout=2)"
    )
    container = ContainerSpec(
        spec.image,
        env=[f"{k}={v}" for k, v in sorted(spec.env.items())],
        user=RUNTIME_USER,
        labels=spec.container_labels,
        read_only=True,
        cap_drop=["ALL"],
        mounts=[
            Mount(
                "/tmp",
                None,
                type="tmpfs",
                tmpfs_size=64 * 1024 * 1024,
                tmpfs_mode=0o1777,
            )
        ],
        # The image's own check runs every 30 s; a task is "running" (and a rolling
        # update moves on) only once healthy, so check often.
        healthcheck=Healthcheck(
            test=["CMD", "python3", "-c", health],
            interval=HEALTH_INTERVAL_SECONDS * SECOND_NS,
            timeout=2 * SECOND_NS,
            retries=3,
            start_period=HEALTH_START_PERIOD_SECONDS * SECOND_NS,
        ),
        stop_grace_period=STOP_GRACE_SECONDS * SECOND_NS,
    )
    resources = Resources(
        cpu_limit=int(spec.cpu * SECOND_NS),
        mem_limit=int(spec.memory_bytes),
        cpu_reservation=int(spec.cpu * SECOND_NS),
        mem_reservation=int(spec.memory_bytes),
    )
    resources["Limits"]["Pids"] = int(spec.pids_limit)
    return TaskTemplate(
        container,
        resources=resources,
        # Swarm restarts a task that exits or turns unhealthy, with a short pause.
        restart_policy=RestartPolicy(condition="any", delay=1 * SECOND_NS),
        placement=Placement(constraints=list(spec.constraints)),
        log_driver={"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}},
    )


def _service_args(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "task_template": _task_template(spec),
        "name": spec.name,
        "labels": spec.labels,
        "mode": ServiceMode("replicated", replicas=spec.replicas),
        # A new version's task starts (and turns healthy) before an old one stops.
        "update_config": UpdateConfig(
            parallelism=1,
            delay=1 * SECOND_NS,
            order="start-first",
            failure_action="rollback",
            monitor=5 * SECOND_NS,
        ),
        "endpoint_spec": EndpointSpec(
            ports=[{"Protocol": "tcp", "TargetPort": CONTAINER_PORT, "PublishMode": "host"}]
        ),
    }


def create_service(url: str, spec: ServiceSpec, tls: TLSOptions | None = None) -> str:
    client = _client(url, tls)
    with _translate(url):
        created = client.api.create_service(**_service_args(spec))
    return created["ID"]


def update_service(
    url: str, service_id: str, version: int, spec: ServiceSpec, tls: TLSOptions | None = None
) -> None:
    """Replace the service's spec (at `version`, Swarm's optimistic lock): a changed
    task template rolls the tasks over; a changed replica count only scales."""
    client = _client(url, tls)
    with _translate(url):
        client.api.update_service(service_id, version, **_service_args(spec))


def remove_service(url: str, service_id: str, tls: TLSOptions | None = None) -> None:
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.remove_service(service_id)
    except NotFoundError:
        pass


def tasks(url: str, service_id: str, tls: TLSOptions | None = None) -> list[SwarmTask]:
    client = _client(url, tls)
    with _translate(url):
        raw = client.api.tasks(filters={"service": service_id})
    return [_task(item) for item in raw]


def _task(item: dict[str, Any]) -> SwarmTask:
    status = item.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    ports = (status.get("PortStatus") or {}).get("Ports") or []
    published = next(
        (p.get("PublishedPort") for p in ports if p.get("TargetPort") == CONTAINER_PORT), None
    )
    spec = ((item.get("Spec") or {}).get("ContainerSpec")) or {}
    exit_code = container.get("ExitCode")
    return SwarmTask(
        id=item["ID"],
        node_id=item.get("NodeID") or "",
        state=status.get("State") or "new",
        desired_state=item.get("DesiredState") or "",
        message=status.get("Message") or "",
        error=status.get("Err") or "",
        container_id=container.get("ContainerID") or "",
        published_port=int(published) if published else None,
        labels=dict(spec.get("Labels") or {}),
        created_at=item.get("CreatedAt") or "",
        exit_code=int(exit_code) if exit_code is not None else None,
    )
