"""A deployment's replica logs: recent lines of one replica or of all current ones, and
only the newer ones when `since` is given (what `orchestrate deployment logs --follow`
polls with)."""

from __future__ import annotations

from ninja import Field, Router, Schema

from orchestration.api.common import responses
from orchestration.api.deployments import get_deployment
from orchestration.api.errors import ApiError
from orchestration.deployments import logs
from orchestration.docker_engine.logs import MAX_LINE_CHARS, format_ns

router = Router(tags=["Deployments"])


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


@router.get(
    "/deployments/{deployment_id}/logs/",
    response=responses({200: LogsOut}, 400, 404),
    summary="Read replica logs",
    description=(
        "The last `tail` lines (default 200, at most 2000) of a replica's container output "
        "(stdout and stderr), or of every current replica when `replica` is not given. "
        "`since` (a line's `at`, or Unix seconds) returns only later lines. A stopped "
        "replica's log stays readable while its container exists. A node that does not "
        f"answer within {logs.READ_TIMEOUT:g} s, or a removed container, is reported in the "
        "replica's `error`, not as a failed request."
    ),
)
def deployment_logs(
    request,
    deployment_id: str,
    replica: str | None = None,
    tail: str | None = None,
    since: str | None = None,
):
    deployment = get_deployment(request.auth, deployment_id)
    try:
        count = logs.parse_tail(tail)
        since_ns = logs.parse_since(since)
        if replica is not None and replica.strip() != "":
            replicas = [logs.find_replica(deployment, replica)]
        else:
            replicas = logs.current_replicas(deployment)
    except logs.LogParamError as exc:
        raise ApiError(400, exc.message, field=exc.param) from None
    read = logs.read_logs(replicas, tail=count, since_ns=since_ns)
    lines = sorted(
        ({"replica": log.replica.pk, "line": line} for log in read for line in log.lines),
        key=lambda item: item["line"].at_ns,
    )
    last = max((log.lines[-1].at_ns for log in read if log.lines), default=since_ns)
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
        "next_since": format_ns(last) if last else "",
    }
