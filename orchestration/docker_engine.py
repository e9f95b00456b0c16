"""The one place that talks to Docker engines.

Everything else in the project calls these plain functions with an engine URL
(`unix:///var/run/docker.sock`, `tcp://host:2376`), so the Docker SDK, its exceptions
and its API quirks stay here, and tests or other callers can fake this module alone.

Errors come out as two kinds, because callers react differently:

* `EngineUnreachable`: the engine did not answer (socket missing, connection refused,
  timeout). Transient: Celery tasks retry, the autoscaler marks the node unreachable.
* `EngineError` (and `ImageBuildError`, `NotFoundError`): the engine answered and
  refused. Retrying the same call will not help.

`EngineUnreachable` subclasses `EngineError`, so `except EngineError` handles both.
"""

from __future__ import annotations

import io
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import IO, Any

import docker
import docker.errors
import requests.exceptions
from docker.tls import TLSConfig
from docker.types import LogConfig

#: Most calls are quick metadata operations; a short timeout keeps a dead node from
#: stalling a Celery worker or the autoscaler loop.
API_TIMEOUT_SECONDS = 15.0
#: Image builds, saves and loads move hundreds of megabytes.
LONG_TIMEOUT_SECONDS = 1800.0

CONTAINER_PORT = 8080
RUNTIME_USER = "10001:10001"


# Errors ---------------------------------------------------------------------------------


class EngineError(Exception):
    """The engine answered but refused or failed the operation."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message


class EngineUnreachable(EngineError):
    """No answer from the engine at `url`. Transient: worth retrying later."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, f"engine unreachable: {reason}")
        self.reason = reason


class NotFoundError(EngineError):
    """The container or image does not exist on that engine."""


class ImageBuildError(EngineError):
    """`docker build` failed; `log` is the build output to show the user."""

    def __init__(self, url: str, message: str, log: str) -> None:
        super().__init__(url, message)
        self.log = log


# Results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSOptions:
    """Client TLS for `tcp://` engines, passed explicitly rather than via DOCKER_* env.

    Paths are PEM files on this host; `verify` checks the engine against `ca_cert`.
    """

    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True

    def config(self) -> TLSConfig:
        pair = (self.client_cert, self.client_key) if self.client_cert else None
        return TLSConfig(client_cert=pair, ca_cert=self.ca_cert, verify=self.verify)


def default_tls(url: str) -> TLSOptions | None:
    """TLS for a `tcp://` or `https://` engine from the DOCKER_TLS_* settings, if any.

    Remote engines listen with TLS on 2376; one client certificate for the whole
    installation is how such fleets are usually set up.
    """
    if not url.startswith(("tcp://", "https://")):
        return None
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        ca, cert, key = (
            settings.DOCKER_TLS_CA_CERT,
            settings.DOCKER_TLS_CLIENT_CERT,
            settings.DOCKER_TLS_CLIENT_KEY,
        )
    except ImproperlyConfigured:  # used outside a configured Django: plain TCP
        return None
    if not (ca or cert):
        return None
    return TLSOptions(ca_cert=ca or None, client_cert=cert or None, client_key=key or None)


@dataclass(frozen=True)
class EngineInfo:
    version: str
    ncpu: int
    mem_total_bytes: int
    os: str
    arch: str = ""
    api_version: str = ""
    name: str = ""


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    status: str
    labels: dict[str, str] = field(default_factory=dict)
    host_port: int | None = None
    exit_code: int | None = None
    image: str = ""

    @property
    def running(self) -> bool:
        return self.status == "running"


# Clients --------------------------------------------------------------------------------

_clients: dict[tuple[str, TLSOptions | None, float], docker.DockerClient] = {}
_clients_lock = threading.Lock()


class _APIClient(docker.APIClient):
    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):
            # The engine's CA (set from TLSConfig) must win over REQUESTS_CA_BUNDLE or
            # CURL_CA_BUNDLE, which requests otherwise prefers to a session's own CA
            # (psf/requests#3829), failing every TLS engine on hosts that set them.
            merged["verify"] = self.verify
        return merged


class _DockerClient(docker.DockerClient):
    # DockerClient.__init__ does nothing but build its APIClient: build ours instead.
    def __init__(self, **kwargs):
        self.api = _APIClient(**kwargs)


def _client(
    url: str, tls: TLSOptions | None = None, timeout: float = API_TIMEOUT_SECONDS
) -> docker.DockerClient:
    """One cached client per engine, TLS setting and timeout class.

    Clients hold connection pools; reusing them avoids a TCP/TLS handshake and an API
    version negotiation per call. Creation negotiates the API version (engines here may
    be as old as 20.10 / API 1.41), which is the first contact and can fail.
    """
    tls = tls or default_tls(url)
    key = (url, tls, timeout)
    with _clients_lock:
        client = _clients.get(key)
    if client is not None:
        return client
    with _translate(url):
        client = _DockerClient(
            base_url=url,
            version="auto",
            timeout=int(math.ceil(timeout)),
            tls=tls.config() if tls else False,
            max_pool_size=32,
        )
    with _clients_lock:
        existing = _clients.setdefault(key, client)
    if existing is not client:
        client.close()
    return existing


def _forget(url: str) -> None:
    # After a connection failure the engine may have restarted with another API
    # version, or the pool holds dead sockets: start afresh next time.
    with _clients_lock:
        stale = [key for key in _clients if key[0] == url]
        clients = [_clients.pop(key) for key in stale]
    for client in clients:
        # Closing a broken client may fail too; there is nothing left to do about it.
        with suppress(Exception):
            client.close()


def close_all() -> None:
    """Drop every cached client (tests, worker shutdown)."""
    with _clients_lock:
        urls = {key[0] for key in _clients}
    for url in urls:
        _forget(url)


_UNREACHABLE_HINTS = (
    "Error while fetching server API version",
    "Connection aborted",
    "Connection refused",
    "No such file or directory",
    "timed out",
)


@contextmanager
def _translate(url: str) -> Iterator[None]:
    """Map SDK and transport exceptions onto EngineUnreachable / EngineError."""
    try:
        yield
    except docker.errors.NotFound as exc:
        raise NotFoundError(url, _explain(exc)) from exc
    except docker.errors.APIError as exc:
        raise EngineError(url, _explain(exc)) from exc
    except (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        _forget(url)
        raise EngineUnreachable(url, _short(exc)) from exc
    except docker.errors.DockerException as exc:
        text = str(exc)
        # The SDK wraps connection failures during version negotiation in a bare
        # DockerException; only its text tells them apart from real API errors.
        if any(hint in text for hint in _UNREACHABLE_HINTS):
            _forget(url)
            raise EngineUnreachable(url, _short(exc)) from exc
        raise EngineError(url, text) from exc


def _explain(exc: docker.errors.APIError) -> str:
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or exc)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# Engine ---------------------------------------------------------------------------------


def ping(url: str, *, tls: TLSOptions | None = None) -> EngineInfo:
    """Check that the engine answers, and learn its capacity for the node record."""
    client = _client(url, tls)
    with _translate(url):
        client.api.ping()
        info = client.api.info()
        version = client.api.version()
    return EngineInfo(
        version=str(info.get("ServerVersion") or version.get("Version", "")),
        ncpu=int(info.get("NCPU") or 0),
        mem_total_bytes=int(info.get("MemTotal") or 0),
        os=str(info.get("OperatingSystem") or info.get("OSType") or ""),
        arch=str(info.get("Architecture") or version.get("Arch", "")),
        api_version=str(version.get("ApiVersion", "")),
        name=str(info.get("Name") or ""),
    )


# Images ---------------------------------------------------------------------------------


def image_exists(url: str, tag: str, *, tls: TLSOptions | None = None) -> bool:
    """Whether the engine has the image; tags embed a content hash, so this means
    "already built" and lets builds be skipped."""
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.inspect_image(tag)
    except NotFoundError:
        return False
    return True


def build_image(
    url: str,
    context_tar: bytes | IO[bytes],
    tag: str,
    labels: dict[str, str] | None = None,
    *,
    tls: TLSOptions | None = None,
    nocache: bool = False,
    timeout: float = LONG_TIMEOUT_SECONDS,
) -> str:
    """Build `tag` from an uncompressed tar context; returns the build log.

    Raises ImageBuildError carrying the log when a step fails. Never pulls: engines
    here have no registry, so the base image must already be present
    (scripts/build-base-image or `transfer_image`).
    """
    client = _client(url, tls, LONG_TIMEOUT_SECONDS)
    fileobj = _as_file(context_tar)
    lines: list[str] = []
    with _translate(url):
        stream = client.api.build(
            fileobj=fileobj,
            custom_context=True,
            tag=tag,
            labels=labels or {},
            rm=True,
            forcerm=True,
            pull=False,
            nocache=nocache,
            decode=True,
            timeout=int(timeout),
            # Proxy settings from ~/.docker/config.json would only leak into the image.
            use_config_proxy=False,
        )
        for chunk in stream:
            if "stream" in chunk:
                lines.append(str(chunk["stream"]))
            elif "status" in chunk:
                lines.append(f"{chunk['status']}\n")
            if "error" in chunk:
                message = str(chunk.get("error") or "build failed").strip()
                lines.append(f"ERROR: {message}\n")
                raise ImageBuildError(url, f"building {tag} failed: {message}", "".join(lines))
    log = "".join(lines)
    if not image_exists(url, tag, tls=tls):
        raise ImageBuildError(url, f"build of {tag} ended without producing the image", log)
    return log


def _as_file(data: bytes | IO[bytes]) -> IO[bytes]:
    return io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data


def transfer_image(
    src_url: str,
    dst_url: str,
    tag: str,
    *,
    src_tls: TLSOptions | None = None,
    dst_tls: TLSOptions | None = None,
) -> bool:
    """Copy an image to another engine (`docker save | docker load`), streaming.

    Nodes have no registry to pull from, so a node that lacks a replica's image gets it
    from the engine that built it. Returns False when the destination already had it.
    """
    if src_url == dst_url or image_exists(dst_url, tag, tls=dst_tls):
        return False
    src = _client(src_url, src_tls, LONG_TIMEOUT_SECONDS)
    dst = _client(dst_url, dst_tls, LONG_TIMEOUT_SECONDS)
    with _translate(src_url):
        archive = src.api.get_image(tag, chunk_size=1024 * 1024)
    with _translate(dst_url):
        for chunk in dst.api.load_image(_guard(src_url, archive), quiet=True) or ():
            if isinstance(chunk, dict) and chunk.get("error"):
                raise EngineError(dst_url, f"loading {tag} failed: {chunk['error']}")
    if not image_exists(dst_url, tag, tls=dst_tls):
        raise EngineError(dst_url, f"{tag} missing after transfer from {src_url}")
    return True


def _guard(url: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    # The save stream is read while the load request is being sent; a failure on the
    # source side must be reported against the source engine, not the destination.
    with _translate(url):
        yield from chunks


def remove_image(url: str, tag: str, *, tls: TLSOptions | None = None) -> bool:
    """Remove an image; False when it was not there. Fails while containers use it."""
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.remove_image(tag, noprune=False)
    except NotFoundError:
        return False
    return True


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
) -> ContainerInfo:
    """Start one replica container, locked down, and return it with its host port.

    The model code is untrusted user upload, so the container gets no capabilities, no
    privilege escalation, a read-only root filesystem (only a small /tmp tmpfs is
    writable), an unprivileged uid, CPU/memory/pid limits, and no volumes: never the
    Docker socket. Port 8080 is published on 0.0.0.0 at `host_port`, or at a port the
    engine picks when None, so the router can reach it from other hosts.
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
    with _translate(url):
        host_config = _host_config(client, cpu, memory_bytes, pids_limit, host_port)
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
    container_id = created["Id"]
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


def _host_config(
    client: docker.DockerClient,
    cpu: float,
    memory_bytes: int,
    pids_limit: int,
    host_port: int | None,
) -> dict[str, Any]:
    return client.api.create_host_config(
        port_bindings={CONTAINER_PORT: ("0.0.0.0", host_port)},
        nano_cpus=int(cpu * 1_000_000_000),
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


def inspect_container(
    url: str, container_id: str, *, tls: TLSOptions | None = None
) -> ContainerInfo:
    """Current state of one container; NotFoundError when it is gone."""
    client = _client(url, tls)
    with _translate(url):
        attrs = client.api.inspect_container(container_id)
    state = attrs.get("State") or {}
    status = str(state.get("Status") or "unknown")
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    return ContainerInfo(
        id=attrs["Id"],
        name=str(attrs.get("Name") or "").lstrip("/"),
        status=status,
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        host_port=_published_port(ports.get(f"{CONTAINER_PORT}/tcp")),
        exit_code=None if status in ("running", "created") else state.get("ExitCode"),
        image=str((attrs.get("Config") or {}).get("Image") or ""),
    )


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


__all__ = [
    "API_TIMEOUT_SECONDS",
    "CONTAINER_PORT",
    "ContainerInfo",
    "EngineError",
    "EngineInfo",
    "EngineUnreachable",
    "ImageBuildError",
    "NotFoundError",
    "TLSOptions",
    "build_image",
    "close_all",
    "container_logs",
    "image_exists",
    "inspect_container",
    "kill",
    "list_containers",
    "ping",
    "remove_image",
    "run_replica",
    "stop_and_remove",
    "transfer_image",
]
