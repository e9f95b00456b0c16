"""Replica planning: which replicas to add and which to drain, as a pure function.

Reconcile feeds it the live replicas (pending, starting, ready) and the desired count;
it answers how many to create and which to take out. No Django, clock or Docker, so the
rules are tested on their own (tests/replicas/test_planning.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PENDING, STARTING, READY = "pending", "starting", "ready"


@dataclass(frozen=True)
class LiveReplica:
    pk: int
    state: str  # pending, starting or ready
    current: bool  # runs the deployment's current model version
    created_at: float  # epoch seconds


@dataclass(frozen=True)
class ReplicaPlan:
    create: int
    # Replicas to take out: pending ones stop at once, the others drain first.
    remove: tuple[int, ...]


def plan_replicas(desired: int, live: Sequence[LiveReplica]) -> ReplicaPlan:
    """What to do so that `desired` replicas of the current version serve.

    A version change rolls over one replica at a time: a new one is ready before an old
    one drains (surge by one). Scaling in takes the newest first, not-yet-ready ones
    before ready ones, so serving capacity goes last.
    """
    ordered = sorted(live, key=lambda r: (r.created_at, r.pk))
    current = [r for r in ordered if r.current]
    outdated = [r for r in ordered if not r.current]
    remove: list[LiveReplica] = []

    if outdated:
        ready_current = sum(1 for r in current if r.state == READY)
        # Old replicas that are not ready yet give nothing to routing; drop them now.
        remove += [r for r in outdated if r.state != READY]
        # Ready old ones drain only as far as ready new ones replace them, oldest first.
        ready_outdated = [r for r in outdated if r.state == READY]
        surplus = ready_current + len(ready_outdated) - desired
        remove += ready_outdated[: max(0, surplus)]
        wanted_new = min(desired, ready_current + 1)
    else:
        wanted_new = desired

    if len(current) > wanted_new:
        excess = sorted(current, key=lambda r: (r.state == READY, -r.created_at, -r.pk))
        remove += excess[: len(current) - wanted_new]

    return ReplicaPlan(create=max(0, wanted_new - len(current)), remove=tuple(r.pk for r in remove))
