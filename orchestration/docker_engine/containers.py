"""Replica containers: run with the hardened host config, inspect, list, stop, kill, logs."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from docker.types import DeviceRequest, LogConfig

from orchestration.docker_engine.client import (
    CONTAINER_PORT,
    RUNTIME_USER,
    EngineError,
    EngineUnreachable,
    NotFoundError,
    TLSOptions,
    _client,
    _translate,
)

# CFS's default period, in µs: a limit of N cores is a quota of N periods per period.
CPU_PERIOD = 100_000


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    status: str
    labels: dict[str, str] = field(default_factory=dict)
    host_port: int | None = None
    exit_code: int | None = None
    image: str = ""
    # The container's own address on its engine's bridge network ("" when it has none).
    ip_address: str = ""

    @property
    def running(self) -> bool:
        return self.status == "running"


# Containers -----------------------------------------------------------------------------


def run_replica(
    url: str,
    *,
    image: str,
    name: str,
    labels: dict[str, str],
    cpu: float,
    memory_bytes: int,
    pids_limit: int = 256,
    env: dict[str, str] | None = None,
    host_port: int | None = None,
    tls: TLSOptions | None = None,
    start_cpu: float = 0.0,
    gpu_ids: Sequence[str] = (),
) -> ContainerInfo:
    """Start one replica container, locked down, and return it with its host port.

    `start_cpu`, when above `cpu`, is the container's CPU limit until `limit_cpu` lowers
    it to `cpu`: a start-up boost, since an interpreter importing a model at a quarter
    core is throttled for most of every CFS period (the no-op model took 0.6-0.8 s to
    answer at 250m where it took 0.4 s unlimited).

    The model code is untrusted user upload, so the container gets no capabilities, no
    privilege escalation, a read-only root filesystem (only a small /tmp tmpfs is
    writable), an unprivileged uid, CPU/memory/pid limits, and no volumes: never the
    Docker socket. Port 8080 is published on 0.0.0.0 at `host_port`, or at a port the
    engine picks when None, so the router can reach it from other hosts.
    """
    container_id = create_replica(
        url,
        image=image,
        name=name,
        labels=labels,
        cpu=cpu,
        memory_bytes=memory_bytes,
        pids_limit=pids_limit,
        env=env,
        host_port=host_port,
        tls=tls,
        start_cpu=start_cpu,
        gpu_ids=gpu_ids,
    )
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.start(container_id)
        info = inspect_container(url, container_id, tls=tls)
        # Port bindings appear with the running state; a freshly started container can
        # be inspected a moment before they are filled in.
        deadline = time.monotonic() + 5
        while info.host_port is None and info.running and time.monotonic() < deadline:
            time.sleep(0.05)
            info = inspect_container(url, container_id, tls=tls)
        return info
    except EngineError:
        # A container that failed to start (port taken, bad image) would linger as
        # "created" and hold its name; remove it so the caller can simply retry.
        with suppress(EngineError):
            stop_and_remove(url, container_id, timeout=0, tls=tls)
        raise


def create_replica(
    url: str,
    *,
    image: str,
    name: str,
    labels: dict[str, str],
    cpu: float,
    memory_bytes: int,
    pids_limit: int = 256,
    env: dict[str, str] | None = None,
    host_port: int | None = None,
    tls: TLSOptions | None = None,
    start_cpu: float = 0.0,
    gpu_ids: Sequence[str] = (),
) -> str:
    """Create (not start) a replica container as `run_replica` describes; its id.

    `gpu_ids` are the NVIDIA devices (indexes or UUIDs) the replica was given: exactly
    those are requested, and NVIDIA_VISIBLE_DEVICES names the same ones.
    """
    if cpu <= 0 or memory_bytes <= 0:
        raise ValueError("cpu and memory_bytes must be positive")
    client = _client(url, tls)
    environment = dict(env or {})
    # numpy/BLAS size their thread pools by the host's cores, not the container's CPU
    # quota, and then thrash against the quota; pin them to the quota.
    threads = str(max(1, math.ceil(cpu)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        environment.setdefault(var, threads)
    devices = [str(d) for d in gpu_ids]
    if devices:
        environment["NVIDIA_VISIBLE_DEVICES"] = ",".join(devices)
        # compute for CUDA, utility for nvidia-smi and NVML (what GPU metrics read);
        # older toolkits mount only utility when this is unset.
        environment.setdefault("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")
    with _translate(url):
        host_config = _host_config(
            client, max(cpu, start_cpu), memory_bytes, pids_limit, host_port, devices
        )
        created = client.api.create_container(
            image=image,
            name=name,
            labels=labels,
            environment=environment,
            user=RUNTIME_USER,
            ports=[CONTAINER_PORT],
            host_config=host_config,
            detach=True,
        )
    return created["Id"]


def gpu_device_requests(device_ids: Sequence[str]) -> list[DeviceRequest]:
    """The device request for exactly these NVIDIA devices (`docker run --gpus
    '"device=0,1"'` sends the same)."""
    if not device_ids:
        return []
    return [DeviceRequest(driver="nvidia", device_ids=list(device_ids), capabilities=[["gpu"]])]


def _host_config(
    client: docker.DockerClient,
    cpu: float,
    memory_bytes: int,
    pids_limit: int,
    host_port: int | None,
    gpu_ids: Sequence[str] = (),
) -> dict[str, Any]:
    return client.api.create_host_config(
        device_requests=gpu_device_requests(gpu_ids) or None,
        port_bindings={CONTAINER_PORT: ("0.0.0.0", host_port)},
        # A CFS quota per period (what NanoCpus sets), in the form `update_container`
        # can change once the start-up boost ends.
        cpu_period=CPU_PERIOD,
        cpu_quota=cpu_quota(cpu),
        mem_limit=int(memory_bytes),
        # Equal to mem_limit: no swap on top, so the limit is the real footprint.
        memswap_limit=int(memory_bytes),
        pids_limit=int(pids_limit),
        security_opt=["no-new-privileges"],
        cap_drop=["ALL"],
        read_only=True,
        tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"},
        # Replica restarts are the autoscaler's decision, which needs to see exits.
        restart_policy={"Name": "no"},
        # A chatty model must not fill the node's disk with logs.
        log_config=LogConfig(type="json-file", config={"max-size": "10m", "max-file": "3"}),
        # Reaps zombies of subprocesses a model may spawn; forwards SIGTERM.
        init=True,
    )


def cpu_quota(cpu: float) -> int:
    """CFS quota (µs per `CPU_PERIOD`) for a limit of `cpu` cores; 1 ms is the kernel's least."""
    return max(1000, round(cpu * CPU_PERIOD))


def limit_cpu(url: str, container_id: str, cpu: float, *, tls: TLSOptions | None = None) -> None:
    """Set a running container's CPU limit (the end of its start-up boost)."""
    client = _client(url, tls)
    with _translate(url):
        client.api.update_container(container_id, cpu_period=CPU_PERIOD, cpu_quota=cpu_quota(cpu))


def inspect_container(
    url: str, container_id: str, *, tls: TLSOptions | None = None
) -> ContainerInfo:
    """Current state of one container; NotFoundError when it is gone."""
    client = _client(url, tls)
    with _translate(url):
        attrs = client.api.inspect_container(container_id)
    state = attrs.get("State") or {}
    status = str(state.get("Status") or "unknown")
    network = attrs.get("NetworkSettings") or {}
    ports = network.get("Ports") or {}
    return ContainerInfo(
        id=attrs["Id"],
        name=str(attrs.get("Name") or "").lstrip("/"),
        status=status,
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        host_port=_published_port(ports.get(f"{CONTAINER_PORT}/tcp")),
        exit_code=None if status in ("running", "created") else state.get("ExitCode"),
        image=str((attrs.get("Config") or {}).get("Image") or ""),
        ip_address=_ip_address(network),
    )


def _ip_address(network: dict) -> str:
    if network.get("IPAddress"):
        return str(network["IPAddress"])
    for attached in (network.get("Networks") or {}).values():
        if attached and attached.get("IPAddress"):
            return str(attached["IPAddress"])
    return ""


def _published_port(bindings: list[dict[str, str]] | None) -> int | None:
    for binding in bindings or []:
        port = binding.get("HostPort")
        if port:
            return int(port)
    return None


_EXITED = re.compile(r"^Exited \((-?\d+)\)")


def list_containers(
    url: str,
    labels: dict[str, str],
    all: bool = True,  # named like `docker ps --all`
    *,
    tls: TLSOptions | None = None,
) -> list[ContainerInfo]:
    """Containers carrying every given label (key=value), stopped ones too by default.

    One list call, no per-container inspect: the autoscaler runs this for every node on
    every tick. Exit codes are read from the status text the list call returns.
    """
    client = _client(url, tls)
    filters = {"label": [f"{key}={value}" for key, value in sorted(labels.items())]}
    with _translate(url):
        rows = client.api.containers(all=all, filters=filters)
    result = []
    for row in rows:
        ports = [
            p
            for p in row.get("Ports") or []
            if p.get("PrivatePort") == CONTAINER_PORT and p.get("PublicPort")
        ]
        exited = _EXITED.match(str(row.get("Status") or ""))
        names = row.get("Names") or [""]
        result.append(
            ContainerInfo(
                id=row["Id"],
                name=str(names[0]).lstrip("/"),
                status=str(row.get("State") or "unknown"),
                labels=dict(row.get("Labels") or {}),
                host_port=int(ports[0]["PublicPort"]) if ports else None,
                exit_code=int(exited.group(1)) if exited else None,
                image=str(row.get("Image") or ""),
            )
        )
    return sorted(result, key=lambda c: c.name)


def stop_and_remove(
    url: str, container_id: str, timeout: int = 10, *, tls: TLSOptions | None = None
) -> None:
    """Stop (SIGTERM, then SIGKILL after `timeout` s) and remove a container.

    Idempotent: a container that is already gone, or being removed, is fine, so a
    retried Celery task does not fail on its own earlier success.
    """
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.stop(container_id, timeout=timeout)
    except NotFoundError:
        return
    except EngineUnreachable:
        raise
    except EngineError:
        pass  # e.g. already stopped or dead: removal below settles it
    try:
        with _translate(url):
            client.api.remove_container(container_id, force=True, v=True)
    except NotFoundError:
        return
    except EngineUnreachable:
        raise
    except EngineError as exc:
        if "already in progress" not in exc.message:
            raise


def kill(
    url: str, container_id: str, signal: str = "SIGKILL", *, tls: TLSOptions | None = None
) -> None:
    """Send a signal now, without the grace period. Gone or stopped containers are OK."""
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.kill(container_id, signal=signal)
    except NotFoundError:
        return
    except EngineUnreachable:
        raise
    except EngineError as exc:
        if "is not running" not in exc.message:
            raise


def container_logs(
    url: str, container_id: str, tail: int = 50, *, tls: TLSOptions | None = None
) -> str:
    """The last `tail` lines of stdout and stderr: the runner logs its startup and model
    errors there, which explains a replica that never became ready."""
    client = _client(url, tls)
    with _translate(url):
        data = client.api.logs(container_id, stdout=True, stderr=True, tail=tail)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
