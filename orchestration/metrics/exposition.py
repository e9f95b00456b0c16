"""The `/metrics` text: every process's recorded values, plus collectors read at scrape."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def forget_dead_processes(path: Path) -> list[int]:
    """Drop the live gauges (in-flight requests) of processes that are gone.

    A web worker that is killed mid-request leaves its file saying "3 in flight"; the
    run command restarts it under another pid, so nothing else would ever clear it.
    Counters and histograms of dead processes stay: their sums must never go down.
    """
    gone = []
    for entry in path.iterdir():
        match = _LIVE_FILE.match(entry.name)
        if match and not _alive(int(match.group(1))):
            gone.append(int(match.group(1)))
    for pid in set(gone):
        mark_process_dead(pid, str(path))
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(collectors: Iterable[Collector] = ()) -> bytes:
    """The Prometheus text format of this install's series and `collectors`."""
    path = multiprocess_dir()
    if path is not None and path.is_dir():
        registry = CollectorRegistry(auto_describe=False)
        forget_dead_processes(path)
        MultiProcessCollector(registry, path=str(path))
    else:
        # One process (tests, a WSGI server): its own values are the whole story.
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Forward(REGISTRY))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


class _Forward(Collector):
    """The process's default registry, inside a registry of one scrape."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self):
        return self._source.collect()
