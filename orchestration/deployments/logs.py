"""Replica logs for the portal, the API and the CLI: which replicas have one, reading it
within a bounded time, and saying plainly why it cannot be read.

Replicas are numbered by their primary key everywhere (the page's "#12", the API's
replica `id`, `orchestrate deployment logs ID --replica 12`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from orchestration import docker_engine
from orchestration.deployments.models import Deployment, Replica, ReplicaState
from orchestration.docker_engine import LogLine
from orchestration.docker_engine.logs import format_ns, parse_stamp

#: Lines shown when a log is opened, and the most one read returns.
DEFAULT_TAIL = 200
MAX_TAIL = 2000
#: Seconds a page or API request waits for a node's engine; the download gets longer
#: (a whole log, up to the 30 MB the engine keeps per container).
READ_TIMEOUT = docker_engine.LOG_TIMEOUT_SECONDS
DOWNLOAD_TIMEOUT = 20.0
#: Stopped and failed replicas listed besides the current ones (newest first).
PAST_REPLICAS = 10
#: Replicas one read of a whole deployment's log covers.
MAX_REPLICAS_READ = 20
# A replica in one of these may still write to its log: worth following.
FOLLOWED_STATES = (
    ReplicaState.PENDING,
    ReplicaState.STARTING,
    ReplicaState.READY,
    ReplicaState.DRAINING,
)
PAST_STATES = (ReplicaState.STOPPED, ReplicaState.FAILED)


class LogParamError(ValueError):
    """A query parameter (`replica`, `since`) that cannot be used; the message
    says why, in words fit for the user."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass
class ReplicaLog:
    replica: Replica
    lines: list[LogLine] = field(default_factory=list)
    #: Why the log could not be read ("" when it was).
    error: str = ""
    #: The container is removed: its log will never be readable again.
    gone: bool = False
    #: The lines are those after this moment (0: the last ones, whenever written).
    since_ns: int = 0
    #: The whole log as the engine prints it (`read_whole_log` only).
    raw: bytes = b""

    @property
    def following(self) -> bool:
        """Worth asking again for new lines."""
        return not self.gone and self.replica.state in FOLLOWED_STATES

    @property
    def next_since(self) -> str:
        """What to pass as `since` to get only the lines after these ("" for all)."""
        ns = self.lines[-1].at_ns if self.lines and self.lines[-1].at_ns else self.since_ns
        return format_ns(ns) if ns else ""


def log_replicas(deployment: Deployment) -> list[Replica]:
    """The replicas whose logs can be asked for: every current one, then the latest
    stopped or failed ones that had a container; in creation order."""
    replicas = deployment.replicas.select_related("node")
    current = list(replicas.exclude(state__in=PAST_STATES))
    past = list(
        replicas.filter(state__in=PAST_STATES)
        .exclude(container_id="")
        .order_by("-created_at", "-id")[:PAST_REPLICAS]
    )
    return sorted(current + past, key=lambda r: (r.created_at, r.pk))


def find_replica(deployment: Deployment, value: str | int | None) -> Replica:
    """The deployment's replica numbered `value`; LogParamError when there is none."""
    text = str(value if value is not None else "").strip()
    if not _ascii_number(text, 18):
        raise LogParamError("replica", f"replica must be a replica number, not {text!r}")
    replica = deployment.replicas.select_related("node").filter(pk=int(text)).first()
    if replica is None:
        raise LogParamError("replica", f"deployment {deployment.slug} has no replica {int(text)}")
    return replica


def _ascii_number(text: str, digits: int) -> bool:
    # str.isdigit() also accepts "²" and other scripts' digits, which int() refuses or reads.
    return text.isascii() and text.isdigit() and len(text) <= digits


def parse_since(value: str | None) -> int:
    """Nanoseconds since the epoch from a line's `at` (RFC 3339, UTC) or Unix seconds;
    empty means from the start (0)."""
    text = (value or "").strip()
    if not text:
        return 0
    ns = parse_stamp(text)
    if ns is None:
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < 1e11:  # NaN and infinities fail this too
            raise LogParamError(
                "since",
                "since must be a line's timestamp (2026-01-31T12:00:00.123456789Z) or Unix seconds",
            )
        ns = int(seconds * 1_000_000_000)
    return ns


def read_log(
    replica: Replica,
    *,
    tail: int | None = DEFAULT_TAIL,
    since_ns: int = 0,
    timeout: float = READ_TIMEOUT,
) -> ReplicaLog:
    """The replica's log lines (the last `tail`, after `since_ns`), or why not."""
    node = replica.node
    # A swarm node whose engine URL nobody gave (docs/runtimes.md) has no readable log.
    if node is None or not replica.container_id or not node.engine_url:
        return _no_container(replica, since_ns)
    try:
        lines = docker_engine.container_log(
            node.engine_url, replica.container_id, tail=tail, since_ns=since_ns, timeout=timeout
        )
    except docker_engine.EngineError as exc:
        return _unread(replica, exc, timeout, since_ns)
    return ReplicaLog(replica, lines=lines, since_ns=since_ns)


def read_whole_log(replica: Replica, *, timeout: float = DOWNLOAD_TIMEOUT) -> ReplicaLog:
    """The replica's whole log in `raw`, as `docker logs --timestamps` prints it, or why not."""
    node = replica.node
    # A swarm node whose engine URL nobody gave (docs/runtimes.md) has no readable log.
    if node is None or not replica.container_id or not node.engine_url:
        return _no_container(replica, 0)
    try:
        raw = docker_engine.container_log_bytes(
            node.engine_url, replica.container_id, timeout=timeout
        )
    except docker_engine.EngineError as exc:
        return _unread(replica, exc, timeout, 0)
    return ReplicaLog(replica, raw=raw)


def _no_container(replica: Replica, since_ns: int) -> ReplicaLog:
    if replica.state in (ReplicaState.PENDING, ReplicaState.STARTING):
        return ReplicaLog(
            replica, error=f"Replica {replica.pk} has no container yet.", since_ns=since_ns
        )
    return ReplicaLog(
        replica,
        error=f"Replica {replica.pk} has no container: there is no log to read.",
        gone=True,
    )


def _unread(
    replica: Replica, exc: docker_engine.EngineError, timeout: float, since_ns: int
) -> ReplicaLog:
    """Why the engine gave no log, in words for the user."""
    node = replica.node
    if isinstance(exc, docker_engine.NotFoundError):
        return ReplicaLog(
            replica,
            error=(
                f"The container of replica {replica.pk} is gone from {node.name}: "
                "its log went with it."
            ),
            gone=True,
        )
    if isinstance(exc, docker_engine.EngineUnreachable):
        message = f"node {node.name} did not answer within {timeout:g} s: {exc.reason}"
    else:
        message = f"node {node.name} could not read the log: {exc.message}"
    return ReplicaLog(replica, error=message, since_ns=since_ns)


def read_logs(
    replicas: list[Replica], *, tail: int = DEFAULT_TAIL, since_ns: int = 0
) -> list[ReplicaLog]:
    """Several replicas' logs, read side by side so that the wait is one read's bound,
    however many nodes fail to answer."""
    if len(replicas) <= 1:
        return [read_log(r, tail=tail, since_ns=since_ns) for r in replicas]
    with ThreadPoolExecutor(max_workers=min(8, len(replicas))) as pool:
        return list(pool.map(lambda r: read_log(r, tail=tail, since_ns=since_ns), replicas))


def current_replicas(deployment: Deployment) -> list[Replica]:
    """The replicas that have a container now (what a log without --replica reads)."""
    return list(
        deployment.replicas.select_related("node")
        .exclude(state__in=PAST_STATES)
        .exclude(container_id="")
        .order_by("created_at", "id")[:MAX_REPLICAS_READ]
    )


def download_name(replica: Replica) -> str:
    return f"{replica.deployment.slug}-replica-{replica.pk}.log"
