"""Reading a container's log (its stdout and stderr, as the engine kept them), bounded in
lines, line length and time, with the engine's timestamp on every line."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from orchestration.docker_engine.client import (
    EngineUnreachable,
    TLSOptions,
    _client,
    _translate,
)

#: A web request reading a log waits at most this long for the engine.
LOG_TIMEOUT_SECONDS = 3.0
#: Longer lines are cut: one runaway print must not make a page or an answer huge.
MAX_LINE_CHARS = 4000

# "2026-12-03T22:53:44.123456789Z text": RFC 3339 with up to nine fraction digits (the
# engine drops trailing zeros, so the width varies).
_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ?(.*)$", re.S)


@dataclass(frozen=True)
class LogLine:
    #: Nanoseconds since the epoch, as the engine stamped the line (0 when unstamped).
    at_ns: int
    text: str

    @property
    def at(self) -> str:
        """The timestamp in RFC 3339 with all nine fraction digits (what `since` takes)."""
        return format_ns(self.at_ns) if self.at_ns else ""

    @property
    def clock(self) -> str:
        """The time of day to the millisecond, UTC, for people."""
        return self.at[11:23] if self.at_ns else ""


def format_ns(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}Z"


def parse_stamp(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 UTC timestamp as `format_ns` writes it
    (fewer fraction digits are fine); None when it is not one."""
    match = _STAMPED.match(text.strip() + " ")
    if match is None or match.group(3).strip():
        return None
    return _ns(match.group(1), match.group(2))


def _ns(whole: str, fraction: str | None) -> int | None:
    try:
        moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def parse_lines(raw: bytes, *, after_ns: int = 0) -> list[LogLine]:
    """The engine's timestamped output as lines, keeping only those stamped after
    `after_ns`; each line cut to MAX_LINE_CHARS."""
    lines = []
    for row in raw.decode("utf-8", "replace").split("\n"):
        if not row:
            continue
        match = _STAMPED.match(row)
        if match is None:
            at_ns, text = 0, row
        else:
            at_ns, text = _ns(match.group(1), match.group(2)) or 0, match.group(3)
        if after_ns and at_ns and at_ns <= after_ns:
            continue
        lines.append(LogLine(at_ns, _cut(text.rstrip("\r"))))
    return lines


def _cut(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]}… [{len(text) - MAX_LINE_CHARS} more characters cut]"


# The engine call runs on this pool so that the caller's wait has a hard end: the SDK's
# timeout bounds each socket read, not a slow engine trickling a large log.
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
T = TypeVar("T")


def _bounded(url: str, call: Callable[[], T], timeout: float) -> T:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="container-logs")
    future = _pool.submit(call)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        # A read already under way ends with its socket timeout; the caller moves on.
        future.cancel()
        raise EngineUnreachable(url, f"no answer within {timeout:g} s") from None


def container_log(
    url: str,
    container_id: str,
    *,
    tail: int | None = 200,
    since_ns: int = 0,
    timeout: float = LOG_TIMEOUT_SECONDS,
    tls: TLSOptions | None = None,
) -> list[LogLine]:
    """The container's last `tail` lines (all with None), only those after `since_ns`.

    A stopped container's log is still there until the container is removed; a removed
    one raises NotFoundError. Waits at most about `timeout` seconds for the engine, then
    raises EngineUnreachable.
    """
    # The engine takes whole seconds for `since` and includes lines at `since` itself:
    # the exact cut is made on the parsed timestamps.
    since = since_ns // 1_000_000_000 or None
    raw = _bounded(url, lambda: _read(url, container_id, tail, since, timeout, tls), timeout)
    return parse_lines(raw, after_ns=since_ns)


def container_log_bytes(
    url: str,
    container_id: str,
    *,
    timeout: float = LOG_TIMEOUT_SECONDS,
    tls: TLSOptions | None = None,
) -> bytes:
    """The container's whole log as `docker logs --timestamps` prints it, uncut (the
    engine keeps at most 30 MB of it, see `run_replica`). Errors as `container_log`."""
    return _bounded(url, lambda: _read(url, container_id, None, None, timeout, tls), timeout)


def _read(
    url: str,
    container_id: str,
    tail: int | None,
    since: int | None,
    timeout: float,
    tls: TLSOptions | None,
) -> bytes:
    client = _client(url, tls, timeout=timeout)
    with _translate(url):
        data = client.api.logs(
            container_id,
            stdout=True,
            stderr=True,
            timestamps=True,
            tail="all" if tail is None else max(1, int(tail)),
            since=since,
        )
    return data if isinstance(data, bytes) else str(data).encode()
