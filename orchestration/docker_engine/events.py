"""Following an engine's container events (`docker events`), the push side of observing.

The reconcile loop polls every engine on a period; this stream tells the product within
milliseconds that a container died, so a crashed or killed replica is replaced without
waiting for the next period.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

from orchestration.docker_engine.client import TLSOptions, _client, _translate


@dataclass(frozen=True)
class ContainerEvent:
    at: float  # Unix time at the engine
    action: str  # "die", "oom", ...
    container_id: str
    labels: dict[str, str] = field(default_factory=dict)  # the container's, and exitCode


class EventStream:
    """An open `docker events` stream; ``close()`` may be called from another thread."""

    def __init__(self, url: str, stream):
        self.url, self._stream = url, stream

    def __iter__(self) -> Iterator[ContainerEvent]:
        with _translate(self.url):
            for raw in self._stream:
                actor = raw.get("Actor") or {}
                yield ContainerEvent(
                    at=float(raw.get("timeNano", 0)) / 1e9 or float(raw.get("time", 0)),
                    action=raw.get("Action") or raw.get("status") or "",
                    container_id=actor.get("ID") or raw.get("id") or "",
                    labels=dict(actor.get("Attributes") or {}),
                )

    def close(self) -> None:
        # Closing a stream the engine already dropped may fail; it is closed either way.
        with suppress(Exception):
            self._stream.close()


def container_events(
    url: str,
    *,
    labels: dict[str, str],
    actions: tuple[str, ...] = ("die",),
    since: float | None = None,
    tls: TLSOptions | None = None,
) -> EventStream:
    """The engine's events for containers with these labels, as they happen.

    Iterating blocks between events and ends only when the engine closes the stream; a
    lost engine raises EngineUnreachable (the caller reconnects). The SDK reads the stream
    without a timeout, so a quiet engine is not mistaken for a dead one. ``since`` (a Unix
    time) replays what happened from then on: a reconnecting caller misses nothing.
    """
    filters = {
        "type": ["container"],
        "event": list(actions),
        "label": [f"{key}={value}" for key, value in labels.items()],
    }
    with _translate(url):
        stream = _client(url, tls).api.events(
            since=None if since is None else int(since), filters=filters, decode=True
        )
    return EventStream(url, stream)
