"""What-if preview: replay traffic through the autoscaling policy.

`simulate` calls `decide` every ``step_seconds`` from the first to the last traffic sample,
feeding it its own earlier decisions, as the autoscale task would. Replicas coming up from
zero are only ready ``cold_start_seconds`` after the decision; requests arriving while no
replica is ready are *delayed*, and each time they arrive with no replica even starting, that
is one *cold start*. Replica time is billed from the decision on: each step's replica count is
billed for ``step_seconds``.

`synthetic_traffic` builds deterministic example loads for the preview.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from orchestration.autoscaling.policy import (
    EPS,
    AutoscaleSettings,
    Decision,
    TrafficPoint,
    decide,
)

__all__ = [
    "SHAPES",
    "SimulationResult",
    "TimelinePoint",
    "simulate",
    "synthetic_traffic",
]

SHAPES = ("steady", "spike", "daily", "bursty", "idle-then-burst")

# Mean request latency assumed by synthetic_traffic (Little's law: in-flight = rate x latency).
REQUEST_SECONDS = 1.0


@dataclass(frozen=True)
class TimelinePoint:
    at: float
    wanted: int  # the count the policy wanted at this step
    replicas: int  # the replica count after this step's decision
    ready: int  # replicas serving (0 while a cold start boots)


@dataclass(frozen=True)
class SimulationResult:
    settings: AutoscaleSettings
    step_seconds: float
    start_replicas: int
    timeline: tuple[TimelinePoint, ...]
    decisions: tuple[Decision, ...]
    cold_starts: int  # times requests arrived with no replica running or starting
    delayed_requests: int  # requests that arrived while no replica was ready
    replica_seconds: float

    @property
    def replica_hours(self) -> float:
        return self.replica_seconds / 3600.0

    @property
    def duration_seconds(self) -> float:
        return len(self.timeline) * self.step_seconds

    @property
    def peak_replicas(self) -> int:
        return max((p.replicas for p in self.timeline), default=0)

    @property
    def average_replicas(self) -> float:
        duration = self.duration_seconds
        return self.replica_seconds / duration if duration else 0.0

    @property
    def scale_events(self) -> int:
        """How many steps changed the replica count (the first one against the start count)."""
        count = 0
        previous = self.start_replicas
        for point in self.timeline:
            if point.replicas != previous:
                count += 1
            previous = point.replicas
        return count

    def cost(self, price_per_hour: float) -> float:
        """Replica cost at ``price_per_hour`` per replica-hour."""
        return self.replica_hours * float(price_per_hour)


def simulate(
    settings: AutoscaleSettings,
    traffic: Sequence[TrafficPoint],
    *,
    step_seconds: float = 5,
    start_replicas: int | None = None,
    cold_start_seconds: float = 10.0,
) -> SimulationResult:
    """Replay ``traffic`` through `decide`, one decision every ``step_seconds``.

    Steps run at ``first.at + k * step_seconds`` up to the last sample. The run starts with
    ``start_replicas`` (default: min replicas) already running.
    """
    if step_seconds <= 0:
        raise ValueError("step_seconds must be positive")
    samples = sorted(traffic, key=lambda s: s.at)
    lo, _ = settings.bounds
    current = start_count = max(0, int(lo if start_replicas is None else start_replicas))
    if not samples:
        return SimulationResult(settings, float(step_seconds), start_count, (), (), 0, 0, 0.0)

    t0 = samples[0].at
    steps = int(math.floor((samples[-1].at - t0) / step_seconds + 1e-9)) + 1
    ready_at: float | None = t0 if current > 0 else None

    decisions: list[Decision] = []
    timeline: list[TimelinePoint] = []
    cold_starts = 0
    delayed = 0
    replica_seconds = 0.0
    j = 0
    for k in range(steps):
        now = t0 + k * step_seconds
        arrived = 0
        busy = False
        while j < len(samples) and samples[j].at <= now + EPS:
            arrived += max(0, int(samples[j].requests))
            busy = busy or samples[j].in_flight > 0
            j += 1
        running = current > 0 and ready_at is not None and now + EPS >= ready_at
        waiting = 0
        if not running and (arrived or busy):
            waiting = arrived or 1
            delayed += waiting
            if current == 0:
                cold_starts += 1
        decision = decide(settings, now, current, samples, decisions, waiting_requests=waiting)
        decisions.append(decision)
        if decision.applied > 0 and current == 0:
            ready_at = now + cold_start_seconds
        elif decision.applied == 0:
            ready_at = None
        current = decision.applied
        replica_seconds += current * step_seconds
        ready = current if ready_at is not None and now + EPS >= ready_at else 0
        timeline.append(TimelinePoint(now, decision.wanted, current, ready))

    return SimulationResult(
        settings=settings,
        step_seconds=float(step_seconds),
        start_replicas=start_count,
        timeline=tuple(timeline),
        decisions=tuple(decisions),
        cold_starts=cold_starts,
        delayed_requests=delayed,
        replica_seconds=replica_seconds,
    )


def _shape_value(shape: str, t: float, duration: float, period: float) -> float:
    """Load in [0, 1] at offset ``t`` of a run of ``duration`` seconds."""
    f = t / duration if duration > 0 else 0.0
    if shape == "steady":
        return 1.0
    if shape == "spike":
        return 1.0 if 0.5 <= f < 0.6 else 0.125
    if shape == "daily":
        return 0.5 - 0.5 * math.cos(2 * math.pi * t / period)
    if shape == "bursty":
        return 1.0 if (t % period) < period / 2 else 0.0
    if shape == "idle-then-burst":
        return 1.0 if 0.5 <= f < 0.6 else 0.0
    raise ValueError(f"unknown traffic shape {shape!r}; choose one of {', '.join(SHAPES)}")


def synthetic_traffic(
    shape: str,
    *,
    duration_seconds: float = 3600,
    step_seconds: float = 5,
    peak_in_flight: float = 8.0,
    start: float = 0.0,
    period_seconds: float | None = None,
) -> list[TrafficPoint]:
    """A deterministic example load, one sample every ``step_seconds`` over the duration.

    Shapes: ``steady`` (peak all along), ``spike`` (1/8 of peak, peak from 50 % to 60 % of the
    run), ``daily`` (0 → peak → 0 cosine ramp, one cycle per ``period_seconds``, default the
    whole run), ``bursty`` (square wave between 0 and peak, period ``period_seconds``, default
    600 s), ``idle-then-burst`` (nothing, then peak from 50 % to 60 % of the run, then
    nothing). ``requests`` per sample assumes 1 s requests: ``round(in_flight * step)``, at
    least 1 whenever requests are in flight.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown traffic shape {shape!r}; choose one of {', '.join(SHAPES)}")
    if step_seconds <= 0:
        raise ValueError("step_seconds must be positive")
    if period_seconds is None:
        period_seconds = duration_seconds if shape == "daily" else 600.0
    period = float(period_seconds) if period_seconds > 0 else float(duration_seconds) or 1.0
    count = int(math.floor(duration_seconds / step_seconds + 1e-9))
    samples = []
    for k in range(count):
        t = k * step_seconds
        in_flight = round(peak_in_flight * _shape_value(shape, t, duration_seconds, period), 6)
        requests = 0
        if in_flight > 0:
            requests = max(1, round(in_flight * step_seconds / REQUEST_SECONDS))
        samples.append(TrafficPoint(at=start + t, in_flight=in_flight, requests=requests))
    return samples
