"""A cold start waiting in the router is woken by the replica-change notification."""

from __future__ import annotations

import asyncio
import threading

from orchestration.metrics.instruments import NO_DEPLOYMENT
from orchestration.predict import observe
from orchestration.predict import router as router_module
from orchestration.predict.router import Backend, Router


def test_a_waiting_cold_start_is_woken_by_a_change_notification(monkeypatch):
    # No fallback polls within the test: only the notification can end the wait.
    monkeypatch.setattr(router_module, "COLD_POLL", (3600.0, 3600.0))
    ready: list[Backend] = []
    loads: list[int] = []
    requested = threading.Event()

    async def load_ready(deployment_id):
        loads.append(deployment_id)
        return list(ready)

    async def request_replica(deployment_id):
        requested.set()
        return True

    monkeypatch.setattr(router_module, "_load_ready", load_ready)
    monkeypatch.setattr(router_module, "_request_replica", request_replica)
    router = Router()

    def replica_turns_ready() -> None:
        requested.wait(10)
        ready.append(Backend(7, "10.0.0.7:8080", on_bridge=True))
        router.invalidate(3)
        router.wake(3)  # what the change listener does, from its own thread

    async def main():
        threading.Thread(target=replica_turns_ready, daemon=True).start()
        return await asyncio.wait_for(
            router._cold_start(3, observe.series(NO_DEPLOYMENT)), timeout=30
        )

    assert asyncio.run(main()) == [Backend(7, "10.0.0.7:8080", on_bridge=True)]
    # One lookup before asking for a replica, one after the wake-up.
    assert loads == [3, 3]


def test_waking_a_deployment_nobody_waits_for_or_a_closed_loop_is_harmless():
    router = Router()
    router.wake(99)
    router.wake()

    async def register():
        router._wakeup(5)

    asyncio.run(register())  # its loop is closed once run() returns
    router.wake(5)
    router.wake()
