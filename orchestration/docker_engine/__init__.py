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

from orchestration.docker_engine.client import (
    API_TIMEOUT_SECONDS,
    CONTAINER_PORT,
    LONG_TIMEOUT_SECONDS,
    RUNTIME_USER,
    EngineError,
    EngineUnreachable,
    ImageBuildError,
    NotFoundError,
    TLSOptions,
    close_all,
    default_tls,
)
from orchestration.docker_engine.containers import (
    ContainerInfo,
    container_logs,
    create_replica,
    gpu_device_requests,
    inspect_container,
    kill,
    limit_cpu,
    list_containers,
    run_replica,
    stop_and_remove,
)
from orchestration.docker_engine.events import ContainerEvent, EventStream, container_events
from orchestration.docker_engine.images import (
    EngineInfo,
    build_image,
    image_exists,
    ping,
    remove_image,
    transfer_image,
)
from orchestration.docker_engine.logs import (
    LOG_TIMEOUT_SECONDS,
    LogLine,
    container_log,
    container_log_bytes,
)

__all__ = [
    "API_TIMEOUT_SECONDS",
    "CONTAINER_PORT",
    "LOG_TIMEOUT_SECONDS",
    "LONG_TIMEOUT_SECONDS",
    "RUNTIME_USER",
    "ContainerEvent",
    "ContainerInfo",
    "EngineError",
    "EngineInfo",
    "EngineUnreachable",
    "EventStream",
    "ImageBuildError",
    "LogLine",
    "NotFoundError",
    "TLSOptions",
    "build_image",
    "container_events",
    "container_log",
    "container_log_bytes",
    "close_all",
    "container_logs",
    "create_replica",
    "gpu_device_requests",
    "default_tls",
    "image_exists",
    "inspect_container",
    "kill",
    "limit_cpu",
    "list_containers",
    "ping",
    "remove_image",
    "run_replica",
    "stop_and_remove",
    "transfer_image",
]
