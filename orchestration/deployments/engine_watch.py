"""React to engine events: a replica's container died, so reconcile its deployment now.

`manage.py watch_engines` runs this as its own supervised process (the run command's
`[program:events]`, compose's `events` service). It follows `docker events` on every node
engine, one thread each, and turns each death of one of this installation's replica
containers into `actions.request_reconcile`, whose reconcile notices the exit and starts
a replacement. The periodic reconcile stays the safety net for anything missed here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections

from orchestration import docker_engine
from orchestration.deployments.containers import LABEL_DEPLOYMENT, LABEL_INSTANCE
from orchestration.nodepools.models import Node

log = logging.getLogger(__name__)

NODES_REFRESH_SECONDS = 10.0
RECONNECT_SECONDS = (0.5, 1, 2, 5, 10)
# Deaths of one deployment's containers closer together than this give one reconcile
# now and one at the window's end (a rollover or a scale-down stops many at once).
COALESCE_SECONDS = 1.0


class Coalescer:
    """At most one call per key per window, plus one trailing call for what came in it."""

    def __init__(self, call: Callable[[int], None], window: float, clock=time.monotonic):
        self._call, self._window, self._clock = call, window, clock
        self._last: dict[int, float] = {}
        self._trailing: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, key: int) -> None:
        with self._lock:
            now = self._clock()
            last = self._last.get(key)
            if last is not None and now - last < self._window:
                if key in self._trailing:
                    return
                self._trailing.add(key)
                delay = self._window - (now - last)
            else:
                self._last[key] = now
                delay = 0.0
        if delay:
            threading.Timer(delay, self._fire_trailing, args=(key,)).start()
        else:
            self._call(key)

    def _fire_trailing(self, key: int) -> None:
        with self._lock:
            self._trailing.discard(key)
            self._last[key] = self._clock()
        self._call(key)


def deployment_of(event: docker_engine.ContainerEvent) -> int | None:
    """The deployment id of one of this installation's replica containers, else None."""
    if event.labels.get(LABEL_INSTANCE) != settings.INSTANCE_ID:
        return None
    try:
        return int(event.labels[LABEL_DEPLOYMENT])
    except (KeyError, ValueError):
        return None


class EngineWatcher:
    """One thread per node engine following its container deaths."""

    def __init__(
        self,
        on_death: Callable[[int], None],
        *,
        events: Callable[..., docker_engine.EventStream] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._on_death = on_death
        # Injectable so a test drives one watcher without patching modules other threads use.
        self._events = events or docker_engine.container_events
        self._sleep = sleep
        self._threads: dict[str, threading.Thread] = {}
        self._streams: dict[str, docker_engine.EventStream] = {}
        self._wanted: set[str] = set()
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Watch every node's engine; stop watching removed ones."""
        close_old_connections()
        urls = set(
            Node.objects.exclude(engine_url="").values_list("engine_url", flat=True).distinct()
        )
        self._watch(urls)

    def stop(self) -> None:
        self._watch(set())
        for thread in list(self._threads.values()):
            thread.join(5)

    def _watch(self, urls: set[str]) -> None:
        with self._lock:
            self._wanted = urls
            for url, stream in list(self._streams.items()):
                if url not in urls:
                    stream.close()
            for url in urls:
                thread = self._threads.get(url)
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(
                        target=self._follow, args=(url,), name=f"events {url}", daemon=True
                    )
                    self._threads[url] = thread
                    thread.start()

    def watching(self, url: str) -> bool:
        with self._lock:
            return url in self._wanted

    def _follow(self, url: str) -> None:
        since: float | None = None
        failures = 0
        while self.watching(url):
            try:
                stream = self._events(
                    url, labels={LABEL_INSTANCE: settings.INSTANCE_ID}, since=since
                )
                with self._lock:
                    if url not in self._wanted:
                        stream.close()
                        return
                    self._streams[url] = stream
                if failures:
                    log.warning("events of %s: connected again", url)
                failures = 0
                log.info("following container events of %s", url)
                for event in stream:
                    since = event.at
                    if not self.watching(url):
                        return
                    deployment_id = deployment_of(event)
                    if deployment_id is not None:
                        log.info(
                            "container %s of deployment %s died (exit %s): reconciling",
                            event.container_id[:12],
                            deployment_id,
                            event.labels.get("exitCode", "?"),
                        )
                        self._on_death(deployment_id)
                # The engine ended the stream (a restart, say): reconnect from here.
                since = since or time.time()
                self._sleep(RECONNECT_SECONDS[0])
            except Exception as exc:
                if not self.watching(url):
                    return  # stop() closed the stream under us
                if not isinstance(exc, docker_engine.EngineError):
                    raise
                if since is None:
                    since = time.time()
                pause = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                # Once per outage, not every retry: an engine down for hours says it once.
                report = log.warning if failures == 0 else log.debug
                report("events of %s: %s; reconnecting every %ss at most", url, exc, pause)
                failures += 1
                self._sleep(pause)


def run_forever(on_death: Callable[[int], None]) -> None:
    watcher = EngineWatcher(on_death)
    while True:
        try:
            watcher.refresh()
        except Exception:  # the database restarting: keep the threads, try again
            log.exception("could not list the nodes to watch")
        time.sleep(NODES_REFRESH_SECONDS)
