"""A deployment's replica logs: recent lines of one replica or of all current ones, and
only the newer ones when `since` is given (what `orchestrate deployment logs --follow`
polls with)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ninja import Field, Query, Router, Schema
from pydantic import field_validator

from orchestration.api.common import owner, responses
from orchestration.api.deployments import get_deployment
from orchestration.api.errors import ApiError
from orchestration.deployments import logs
from orchestration.docker_engine.logs import MAX_LINE_CHARS, format_ns

router = Router(tags=["Deployments"])

RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


class LogLineOut(Schema):
    replica: int = Field(description="The replica's id (as in `replicas`).")
    at: str = Field(description="When the engine took the line: RFC 3339, UTC, nanoseconds.")
    text: str = Field(description=f"The line, cut after {MAX_LINE_CHARS} characters.")


class ReplicaLogOut(Schema):
    id: int
    state: str
    node: str | None
    following: bool = Field(description="The replica may still write: worth polling.")
    gone: bool = Field(description="Its container is removed, and its log with it.")
    error: str = Field(description="Why its log could not be read now; empty when it was.")


class LogsOut(Schema):
    deployment_id: str
    replicas: list[ReplicaLogOut]
    lines: list[LogLineOut] = Field(description="Oldest first, all replicas merged by time.")
    next_since: str = Field(description="Pass as `since` to get only later lines.")


class LogsQuery(Schema):
    replica: int | None = Field(
        None, ge=1, le=2**63 - 1, description="A replica's id; default: every current one."
    )
    tail: int = Field(
        logs.DEFAULT_TAIL,
        ge=1,
        le=logs.MAX_TAIL,
        description="How many of the last lines to return (per replica).",
    )
    since: datetime | None = Field(
        None,
        description="Only lines after this moment (RFC 3339): a line's `at` or `next_since`, "
        "read to the microsecond (lines within that microsecond count as read).",
    )

    @field_validator("since", mode="before")
    @classmethod
    def _rfc3339(cls, value):
        # pydantic would also take Unix seconds and dates without a time or zone, which
        # the schema (format: date-time) does not offer.
        if value is not None and not (isinstance(value, str) and RFC3339.fullmatch(value)):
            raise ValueError("Must be an RFC 3339 time, such as a line's `at`.")
        return value


@router.get(
    "/deployments/{deployment_id}/logs/",
    response=responses({200: LogsOut}, 400, 404),
    summary="Read replica logs",
    description=(
        "The last `tail` lines of a replica's container output (stdout and stderr), or of "
        "every current replica when `replica` is not given, merged by time. A stopped "
        "replica's log stays readable while its container exists. A node that does not "
        f"answer within {logs.READ_TIMEOUT:g} s, or a removed container, is reported in the "
        "replica's `error`, not as a failed request. 404: no such deployment, or no "
        "replica with that id in it."
    ),
)
def deployment_logs(request, deployment_id: str, params: Query[LogsQuery]):
    deployment = get_deployment(owner(request), deployment_id)
    if params.replica is not None:
        try:
            replicas = [logs.find_replica(deployment, params.replica)]
        except logs.LogParamError as exc:
            raise ApiError(404, exc.message, field="replica") from None
    else:
        replicas = logs.current_replicas(deployment)
    since_ns = _after_ns(params.since)
    read = logs.read_logs(replicas, tail=params.tail, since_ns=since_ns)
    lines = sorted(
        ({"replica": log.replica.pk, "line": line} for log in read for line in log.lines),
        key=lambda item: item["line"].at_ns,
    )
    last = max((log.lines[-1].at_ns for log in read if log.lines), default=0)
    return {
        "deployment_id": deployment.slug,
        "replicas": [
            {
                "id": log.replica.pk,
                "state": log.replica.state,
                "node": log.replica.node.name if log.replica.node else None,
                "following": log.following,
                "gone": log.gone,
                "error": log.error,
            }
            for log in read
        ],
        "lines": [
            {"replica": item["replica"], "at": item["line"].at, "text": item["line"].text}
            for item in lines
        ],
        "next_since": format_ns(last) if last else (_echo(params.since) if since_ns else ""),
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _after_ns(since: datetime | None) -> int:
    """The last nanosecond of `since`'s microsecond (a datetime holds no finer), 0 for
    none or a moment before 1970."""
    if since is None:
        return 0
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    delta = since - _EPOCH
    micro = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micro * 1000 + 999 if micro >= 0 else 0


def _echo(since: datetime) -> str:
    """`since` as given back when no line came: the client keeps its place."""
    return format_ns(_after_ns(since) - 999)
