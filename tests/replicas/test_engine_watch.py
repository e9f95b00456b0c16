"""The engine-events watcher: a replica that dies is reconciled at once, not at the next
period. The coalescing and the label rules are plain; the rest runs against real Docker."""

from __future__ import annotations

import pytest

from orchestration import docker_engine
from orchestration.deployments import actions, engine_watch
from orchestration.deployments.containers import LABEL_DEPLOYMENT, LABEL_INSTANCE
from orchestration.deployments.models import ReplicaState
from tests.conftest import reconcile_until_ready, requires_docker, wait_for
from tests.replicas.conftest import ENGINE
from tests.replicas.test_replicas_docker import _ready, wait_until_replaced


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_coalescer_calls_at_once_then_once_more_for_a_burst(monkeypatch):
    timers = []

    class Timer:  # run the trailing call by hand instead of on a thread
        def __init__(self, delay, func, args):
            timers.append((delay, func, args))

        def start(self):
            pass

    monkeypatch.setattr(engine_watch.threading, "Timer", Timer)
    clock, calls = FakeClock(), []
    coalesce = engine_watch.Coalescer(calls.append, 1.0, clock=clock)
    coalesce(7)
    assert calls == [7] and timers == []
    clock.now += 0.25
    coalesce(7)
    coalesce(7)  # the same burst: still one trailing call
    coalesce(8)  # another deployment is not held back
    assert calls == [7, 8]
    assert [(delay, args) for delay, _f, args in timers] == [(0.75, (7,))]
    clock.now += 0.75
    timers[0][1](*timers[0][2])
    assert calls == [7, 8, 7]
    clock.now += 1.5
    coalesce(7)
    assert calls == [7, 8, 7, 7] and len(timers) == 1


def test_only_this_installations_replica_containers_count(settings):
    def event(**labels):
        return docker_engine.ContainerEvent(at=0.0, action="die", container_id="c", labels=labels)

    mine = {LABEL_INSTANCE: settings.INSTANCE_ID}
    assert engine_watch.deployment_of(event(**mine, **{LABEL_DEPLOYMENT: "12"})) == 12
    assert (
        engine_watch.deployment_of(event(**{LABEL_INSTANCE: "other", LABEL_DEPLOYMENT: "12"}))
        is None
    )
    assert engine_watch.deployment_of(event(**mine)) is None  # an image build, say
    assert engine_watch.deployment_of(event(**mine, **{LABEL_DEPLOYMENT: "x"})) is None


class _Stream:
    def __init__(self, events):
        self.events = events

    def __iter__(self):
        return iter(self.events)

    def close(self):
        pass


def test_a_dropped_stream_reconnects_from_the_last_event(settings):
    """The engine ends the stream, then refuses once: each reconnect asks from the last
    event seen, so a death during the gap is replayed, not lost."""
    url, deaths, asked = "unix:///nowhere.sock", [], []
    replica = {LABEL_INSTANCE: settings.INSTANCE_ID, LABEL_DEPLOYMENT: "5"}

    def events(engine, *, labels: dict, since=None):
        assert labels == {LABEL_INSTANCE: settings.INSTANCE_ID}
        asked.append(since)
        if len(asked) == 1:
            return _Stream([docker_engine.ContainerEvent(123.5, "die", "c1", replica)])
        if len(asked) == 2:
            raise docker_engine.EngineUnreachable(engine, "connection refused")
        watcher._watch(set())  # the node was removed meanwhile: the thread ends
        return _Stream([])

    watcher = engine_watch.EngineWatcher(deaths.append, events=events, sleep=lambda s: None)
    watcher._watch({url})  # starts the engine's thread, which ends once it is unwatched
    watcher._threads[url].join(10)
    assert not watcher._threads[url].is_alive()
    assert deaths == [5]
    assert asked == [None, 123.5, 123.5]


@requires_docker
@pytest.mark.docker
@pytest.mark.celery
def test_a_killed_replica_is_replaced_from_the_die_event_alone(deployment, request):
    """No periodic reconcile runs here (no beat): only the watcher's event can replace it."""
    reconcile_until_ready(deployment, 2)
    deaths: list[int] = []

    def on_death(deployment_id: int) -> None:
        deaths.append(deployment_id)
        actions.request_reconcile(deployment_id)

    watcher = engine_watch.EngineWatcher(on_death)
    watcher.refresh()
    request.addfinalizer(watcher.stop)
    wait_for(lambda: ENGINE in watcher._streams, timeout=10, message="the event stream")
    victim = _ready(deployment)[0]
    docker_engine.kill(ENGINE, victim.container_id)
    wait_for(lambda: deployment.pk in deaths, timeout=20, message="the die event")
    wait_until_replaced(deployment, victim)
    victim.refresh_from_db()
    assert victim.state == ReplicaState.FAILED
    # Reconcile runs milliseconds after the die: the engine may still list the container
    # as running (then its health check fails) or already as exited.
    kinds = list(deployment.events.values_list("kind", "message"))
    assert any(kind in ("replica_exited", "replica_unhealthy") for kind, _m in kinds), kinds
