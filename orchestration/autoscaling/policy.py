"""The autoscaling policy of one deployment, as a pure function.

`decide` takes the settings, the time, the current replica count, recent traffic and recent
decisions, and returns the next `Decision`. It has no clock, no I/O and no Django: the
caller (the Celery autoscale task, the what-if simulator, tests) supplies everything.

Semantics (times in seconds; inputs sorted by ``at`` ascending; entries after ``now`` ignored;
``EPS`` = 1 µs tolerance on every time comparison):

1. **Wanted count.** ``avg`` = mean ``in_flight`` of the samples with ``at`` in
   ``(now - traffic_history_seconds, now]`` (0 when there are none; with a timeframe of 0 the
   latest sample at or before ``now`` is used). ``raw = ceil(avg / target_concurrency)``
   (0 when ``avg`` is 0). ``wanted = clamp(raw, min, max)``. When min is 0 and replicas are
   running, ``wanted`` may be 0 only if the deployment is *idle*: no sample with
   ``requests > 0`` or ``in_flight > 0`` in ``(now - Z, now]``, where
   ``Z = max(scale_to_zero_delay_seconds, scale_down_delay_seconds)``, and the traffic passed
   reaches back to ``now - Z`` (some sample at or before it), so that missing data never
   counts as idleness. Otherwise the floor is 1 while replicas are running.
2. **Settings clamp.** ``current > max`` → ``max`` at once ("settings: clamp to max").
3. **Cold start.** ``current == 0`` and ``waiting_requests > 0`` → ``max(1, wanted)`` at once;
   the scale-up delay does not apply.
4. ``current < min`` → ``min`` at once ("settings: clamp to min").
5. **Scale to zero.** ``current >= 1`` and ``wanted == 0`` (only possible as in 1) → 0 at once.
6. **Scale up** (``wanted > current``). A decision's ``wanted`` holds until the next decision.
   Walking back from the decision being made now through ``history``, every decision must
   want more than ``current`` until one at or before ``now - scale_up_delay_seconds`` is
   reached; that one closes the window. Any decision wanting ``<= current`` on the way, or
   history running out first, means *hold*. The new count is the smallest ``wanted`` in that
   window (the closing decision included), so a count is only reached once it has been wanted
   for the whole delay.
7. **Scale down** (``wanted < current``): the same with ``scale_down_delay_seconds``, "wanting
   fewer than ``current``", and the *largest* ``wanted`` in the window; never below min.
8. A delay of 0 acts at once (the new count is ``wanted``). Otherwise: hold
   (``applied = current``).

Because a change needs one direction to be wanted without a break for the whole delay, a
load oscillating faster than the delays causes no change (no flapping).

Cost: ``decide`` bisects the inputs to ``now`` and then reads only the tail it needs, so
passing long histories is cheap, and nothing is sorted. Callers should pass traffic samples
with ``at >= now - traffic_lookback_seconds(settings)`` and decisions with
``at >= now - history_lookback_seconds(settings)``; both include a margin of
`LOOKBACK_MARGIN_SECONDS` so that the sample or decision just before a window's start (which
closes the window) is included.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from orchestration.constants import AUTOSCALE_DEFAULTS

__all__ = [
    "LOOKBACK_MARGIN_SECONDS",
    "AutoscaleSettings",
    "Decision",
    "TrafficPoint",
    "TrafficSummary",
    "decide",
    "history_lookback_seconds",
    "traffic_lookback_seconds",
]

EPS = 1e-6
LOOKBACK_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class AutoscaleSettings:
    """The autoscale settings of one deployment (see the spec's "Autoscale settings")."""

    min_replicas: int = AUTOSCALE_DEFAULTS["min_replicas"]
    max_replicas: int = AUTOSCALE_DEFAULTS["max_replicas"]
    scale_down_delay_seconds: float = AUTOSCALE_DEFAULTS["scale_down_delay_seconds"]
    traffic_history_seconds: float = AUTOSCALE_DEFAULTS["traffic_history_seconds"]
    scale_up_delay_seconds: float = AUTOSCALE_DEFAULTS["scale_up_delay_seconds"]
    scale_to_zero_delay_seconds: float = AUTOSCALE_DEFAULTS["scale_to_zero_delay_seconds"]
    target_concurrency: float = AUTOSCALE_DEFAULTS["target_concurrency"]

    @classmethod
    def from_object(cls, source: Any) -> AutoscaleSettings:
        """Build settings from a mapping or an object with same-named attributes.

        Missing fields and ``None`` values take the defaults, so a model instance, a form's
        ``cleaned_data`` or an API payload can be passed as is.
        """
        values: dict[str, Any] = {}
        for item in fields(cls):
            if isinstance(source, Mapping):
                value = source.get(item.name)
            else:
                value = getattr(source, item.name, None)
            if value is not None:
                values[item.name] = value
        return cls(**values)

    @property
    def bounds(self) -> tuple[int, int]:
        """(min, max) made consistent: max >= 1, 0 <= min <= max."""
        hi = max(1, int(self.max_replicas))
        lo = min(max(0, int(self.min_replicas)), hi)
        return lo, hi

    @property
    def idle_seconds_before_zero(self) -> float:
        """How long a min-0 deployment must be idle before its last replica goes."""
        return max(
            float(self.scale_to_zero_delay_seconds), float(self.scale_down_delay_seconds), 0.0
        )


@dataclass(frozen=True)
class TrafficPoint:
    """Traffic over one sample interval ending at ``at``."""

    at: float
    in_flight: float  # average number of requests in flight over the interval
    requests: int = 0  # requests that arrived in the interval


@dataclass(frozen=True)
class TrafficSummary:
    """What `decide` reads from the traffic, for callers that compute it in bulk.

    `summarize` derives it from a point list; the autoscaler computes the same figures in
    SQL, so a tick over 10,000 deployments need not build 600,000 points in Python.
    """

    average_in_flight: float  # mean in-flight over the scaling timeframe (rule 1)
    idle: bool  # no traffic for the scale-to-zero delay, with data reaching back that far
    idle_for: float  # how long it has been idle (for the reason text)


def summarize(
    settings: AutoscaleSettings, now: float, traffic: Sequence[TrafficPoint]
) -> TrafficSummary:
    """The `TrafficSummary` of a sorted point list at ``now`` (rules 1 and the idle rule)."""
    t_end = bisect_right(traffic, now + EPS, key=_at)
    avg = _average_in_flight(traffic, t_end, now, float(settings.traffic_history_seconds))
    idle, idle_for = _idle(traffic, t_end, now, settings.idle_seconds_before_zero)
    return TrafficSummary(avg, idle, idle_for)


# Every kind of decision `decide` takes: holding, waiting out a delay, or acting.
DECISION_KINDS = (
    "hold",
    "hold_up_delay",
    "hold_down_delay",
    "hold_zero_delay",
    "scale_up",
    "scale_down",
    "scale_to_zero",
    "cold_start",
    "clamp_min",
    "clamp_max",
)


@dataclass(frozen=True)
class Decision:
    """One autoscaler decision."""

    at: float
    wanted: int  # the clamped count wanted at that moment
    applied: int  # the replica count after the decision
    reason: str  # human readable; starts with "hold" when the count stays
    # What kind of decision, one of DECISION_KINDS (metrics count them by it).
    kind: str = field(default="", compare=False)
    # A hold that only waits for its delay: in how many seconds the same wish, still
    # wanted, would act. The caller can decide again then instead of at its next tick.
    acts_in: float | None = field(default=None, compare=False)


def traffic_lookback_seconds(settings: AutoscaleSettings) -> float:
    """How far back `decide` reads traffic: pass samples with ``at >= now - this``."""
    return (
        max(float(settings.traffic_history_seconds), settings.idle_seconds_before_zero)
        + LOOKBACK_MARGIN_SECONDS
    )


def history_lookback_seconds(settings: AutoscaleSettings) -> float:
    """How far back `decide` reads decisions: pass decisions with ``at >= now - this``."""
    return (
        max(float(settings.scale_up_delay_seconds), float(settings.scale_down_delay_seconds), 0.0)
        + LOOKBACK_MARGIN_SECONDS
    )


def _at(item: TrafficPoint | Decision) -> float:
    return item.at


def _secs(value: float) -> str:
    """Seconds for a reason text: whole numbers without decimals."""
    value = max(0.0, value)
    rounded = round(value)
    if abs(value - rounded) < 0.05:
        return str(int(rounded))
    return f"{value:.1f}"


def _average_in_flight(
    traffic: Sequence[TrafficPoint], end: int, now: float, timeframe: float
) -> float:
    if end <= 0:
        return 0.0
    if timeframe <= 0:
        return max(0.0, float(traffic[end - 1].in_flight))
    start = now - timeframe
    total = 0.0
    count = 0
    i = end - 1
    while i >= 0:
        sample = traffic[i]
        if sample.at - start <= EPS:
            break
        total += sample.in_flight
        count += 1
        i -= 1
    if count == 0:
        return 0.0
    return max(0.0, total / count)


def _replicas_for(avg: float, target: float, hi: int) -> int:
    if avg <= 0:
        return 0
    if target <= 0:
        return hi
    return max(1, math.ceil(avg / target - 1e-9))


def _idle(
    traffic: Sequence[TrafficPoint], end: int, now: float, delay: float
) -> tuple[bool, float]:
    """Whether there was no traffic in (now - delay, now], and for how long it was idle.

    Idleness is only established when the samples reach back to ``now - delay``.
    """
    if delay <= 0:
        return True, 0.0
    start = now - delay
    i = end - 1
    earliest = now
    while i >= 0:
        sample = traffic[i]
        if sample.at - start <= EPS:
            return True, now - sample.at
        if sample.requests > 0 or sample.in_flight > 0:
            return False, now - sample.at
        earliest = sample.at
        i -= 1
    return False, now - earliest


def _window(
    history: Sequence[Decision],
    end: int,
    now: float,
    delay: float,
    current: int,
    wanted: int,
    up: bool,
) -> tuple[bool, int, float]:
    """Walk back through history while decisions want more (up) / fewer (down) than current.

    Returns (window covered, smallest (up) / largest (down) wanted in it, start of the streak).
    """
    best = wanted
    first_at = now
    if delay <= 0:
        return True, best, first_at
    start = now - delay
    i = end - 1
    while i >= 0:
        decision = history[i]
        w = decision.wanted
        if up:
            if w <= current:
                break
            if w < best:
                best = w
        else:
            if w >= current:
                break
            if w > best:
                best = w
        first_at = decision.at
        if decision.at - start <= EPS:
            return True, best, first_at
        i -= 1
    return False, best, first_at


def decide(
    settings: AutoscaleSettings,
    now: float,
    current: int,
    traffic: Sequence[TrafficPoint],
    history: Sequence[Decision],
    waiting_requests: int = 0,
    summary: TrafficSummary | None = None,
) -> Decision:
    """Decide the replica count at ``now``; see the module docstring for the exact rules.

    ``traffic`` and ``history`` must be sorted by ``at`` ascending; entries after ``now`` are
    ignored. ``waiting_requests`` counts requests waiting for a replica (used at 0 replicas).
    A ``summary`` given stands for ``summarize(settings, now, traffic)`` (traffic unread).
    """
    lo, hi = settings.bounds
    current = max(0, int(current))
    if summary is None:
        summary = summarize(settings, now, traffic)
    avg = summary.average_in_flight
    raw = _replicas_for(avg, float(settings.target_concurrency), hi)
    wanted = min(max(raw, lo), hi)

    idle_hold: str | None = None
    if wanted == 0 and current >= 1:
        idle_delay = settings.idle_seconds_before_zero
        idle, idle_for = summary.idle, summary.idle_for
        if not idle:
            wanted = 1
            idle_hold = (
                f"hold: scale-to-zero delay not reached "
                f"(idle {_secs(idle_for)} s of {_secs(idle_delay)} s)"
            )

    def result(kind: str, applied: int, reason: str, acts_in: float | None = None) -> Decision:
        return Decision(now, wanted, applied, reason, kind, acts_in)

    if current > hi:
        return result("clamp_max", hi, "settings: clamp to max")
    if current == 0 and waiting_requests > 0:
        new = max(1, wanted)
        return result("cold_start", new, f"cold start: request waiting at 0 replicas (0→{new})")
    if current < lo:
        return result("clamp_min", lo, "settings: clamp to min")
    if current >= 1 and wanted == 0:
        return result(
            "scale_to_zero",
            0,
            f"scale to zero: no traffic for {_secs(settings.idle_seconds_before_zero)} s",
        )
    if wanted == current:
        if idle_hold is not None and current == 1:
            return result("hold_zero_delay", current, idle_hold)
        return result("hold", current, f"hold: {current} wanted and running")

    up = wanted > current
    delay = float(settings.scale_up_delay_seconds if up else settings.scale_down_delay_seconds)
    h_end = bisect_right(history, now + EPS, key=_at)
    covered, best, first_at = _window(history, h_end, now, delay, current, wanted, up)
    word = "up" if up else "down"
    if not covered:
        return result(
            f"hold_{word}_delay",
            current,
            f"hold: scale-{word} delay not reached "
            f"(wanted {wanted} for {_secs(now - first_at)} s of {_secs(delay)} s)",
            acts_in=max(0.0, first_at + delay - now),
        )
    new = min(max(best, lo), hi)
    if delay <= 0:
        return result(
            f"scale_{word}",
            new,
            f"scale {word} {current}→{new}: wanted {wanted} (no scale-{word} delay)",
        )
    cmp = "≥" if up else "≤"
    return result(
        f"scale_{word}",
        new,
        f"scale {word} {current}→{new}: wanted {cmp}{new} for {_secs(now - first_at)} s",
    )


def kept_for_min(settings: AutoscaleSettings, summary: TrafficSummary, applied: int) -> int:
    """How many of ``applied`` replicas only the minimum keeps: the traffic wants fewer.

    `decide`'s wanted count is already raised to the minimum, so this reads the traffic's
    own count; replicas above the minimum (a scale-down delay) are not the minimum's.
    """
    lo, hi = settings.bounds
    raw = _replicas_for(summary.average_in_flight, float(settings.target_concurrency), hi)
    return max(0, min(int(applied), lo) - raw)


def explain(
    settings: AutoscaleSettings, summary: TrafficSummary, decision: Decision, current: int
) -> str:
    """One line on why the replica count is what it is: what is wanted, from which
    traffic, and what the decision does about it (or how long its delay still runs)."""
    lo, hi = settings.bounds
    avg = summary.average_in_flight
    timeframe = float(settings.traffic_history_seconds)
    over = f"over {_secs(timeframe)} s" if timeframe > 0 else "now"
    target = settings.target_concurrency
    raw = _replicas_for(avg, float(target), hi)
    line = f"wants {decision.wanted}: average {avg:.1f} in flight {over} / target {target}"
    if decision.kind == "hold_zero_delay":
        pass  # the wish for zero is held at one; the tail says why
    elif raw < lo and decision.wanted == lo:
        line += f", raised to the minimum {lo}"
    elif raw > hi and decision.wanted == hi:
        line += f", capped at the maximum {hi}"
    delay_up, delay_down = settings.scale_up_delay_seconds, settings.scale_down_delay_seconds
    kind = decision.kind
    if kind == "hold_up_delay":
        tail = f"scale-up waits {_wait(decision.acts_in)} s more of its {_secs(delay_up)} s delay"
    elif kind == "hold_down_delay":
        tail = (
            f"scale-down waits {_wait(decision.acts_in)} s more of its {_secs(delay_down)} s delay"
        )
    elif kind == "hold_zero_delay":
        delay = settings.idle_seconds_before_zero
        tail = (
            f"no traffic for {_whole(summary.idle_for)} s: scale to zero waits "
            f"{_wait(delay - summary.idle_for)} s more of its {_secs(delay)} s delay"
        )
    elif kind in ("scale_up", "scale_down"):
        tail = f"scaling {kind[6:]} {current}→{decision.applied} now"
    elif kind == "scale_to_zero":
        tail = f"scaling to zero: no traffic for {_secs(settings.idle_seconds_before_zero)} s"
    elif kind == "cold_start":
        tail = f"a request is waiting at 0 replicas: starting {decision.applied}"
    elif kind == "clamp_min":
        tail = f"raising {current}→{lo}, the minimum"
    elif kind == "clamp_max":
        tail = f"lowering {current}→{hi}, the maximum"
    elif current == 0:
        tail = "scaled to zero; a request starts a replica"
    else:
        tail = f"{current} running, as wanted"
    return f"{line}; {tail}"


def _wait(seconds: float | None) -> str:
    """A wait still to run, in whole seconds rounded up (it has not ended before then)."""
    return str(max(0, math.ceil((seconds or 0.0) - 1e-6)))


def _whole(seconds: float) -> str:
    """A time already passed, in whole seconds rounded down."""
    return str(max(0, math.floor(seconds + 1e-6)))
