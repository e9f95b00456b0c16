"""Property tests of the autoscaling policy: bounds, delays, no flapping, scale to zero."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from orchestration.autoscaling.policy import AutoscaleSettings, TrafficPoint, decide
from orchestration.autoscaling.simulate import simulate

STEP = 5
PROFILE = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

seconds = st.integers(min_value=0, max_value=60).map(lambda n: n * STEP)  # 0..300 s


@st.composite
def autoscale_settings(draw, min_floor: int = 0) -> AutoscaleSettings:
    lo = draw(st.integers(min_value=min_floor, max_value=3))
    hi = draw(st.integers(min_value=max(1, lo), max_value=6))
    down = draw(seconds)
    return AutoscaleSettings(
        min_replicas=lo,
        max_replicas=hi,
        scale_up_delay_seconds=draw(seconds),
        scale_down_delay_seconds=down,
        traffic_history_seconds=draw(seconds),
        scale_to_zero_delay_seconds=down + draw(seconds),
        target_concurrency=draw(st.sampled_from([1, 2, 2.5, 4, 8])),
    )


@st.composite
def traffic(draw) -> list[TrafficPoint]:
    """Piecewise-constant load: segments of 5..300 s, some idle."""
    segments = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=1, max_value=60),
                st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=30.0)),
            ),
            min_size=1,
            max_size=12,
        )
    )
    samples = []
    t = 0
    for steps, level in segments:
        for _ in range(steps):
            requests = math.ceil(level * STEP) if level > 0 else 0
            samples.append(TrafficPoint(at=float(t), in_flight=level, requests=requests))
            t += STEP
    return samples


def streak_start(result, index: int, wants) -> float | None:
    """The time of the first decision of the unbroken run ending at ``index`` (inclusive)
    whose wanted counts all satisfy ``wants``."""
    start = None
    for j in range(index, -1, -1):
        if not wants(result.decisions[j].wanted):
            break
        start = result.decisions[j].at
    return start


def window(result, index: int, delay: float) -> list[int]:
    """Wanted counts from the last decision at or before ``now - delay`` up to ``index``."""
    now = result.decisions[index].at
    if delay <= 0:
        return [result.decisions[index].wanted]
    closing = max(d.at for d in result.decisions[: index + 1] if d.at <= now - delay)
    return [d.wanted for d in result.decisions[: index + 1] if d.at >= closing]


@PROFILE
@given(autoscale_settings(), traffic(), st.integers(min_value=0, max_value=8))
def test_applied_always_within_bounds(s, load, start):
    result = simulate(s, load, step_seconds=STEP, start_replicas=start)
    lo, hi = s.min_replicas, s.max_replicas
    for decision in result.decisions:
        assert lo <= decision.applied <= hi
        assert lo <= decision.wanted <= hi
    if lo >= 1:
        assert all(d.applied >= 1 for d in result.decisions)


@PROFILE
@given(autoscale_settings(), traffic(), st.integers(min_value=0, max_value=6))
def test_no_change_before_its_delay(s, load, start):
    result = simulate(s, load, step_seconds=STEP, start_replicas=start)
    previous = result.start_replicas
    for i, decision in enumerate(result.decisions):
        before, after, now = previous, decision.applied, decision.at
        previous = after
        if after == before or decision.reason.startswith(("settings:", "cold start")):
            continue
        if after > before:
            first = streak_start(result, i, lambda w, b=before: w > b)
            assert first is not None
            # More was wanted without a break for the whole scale-up delay...
            assert now - first >= s.scale_up_delay_seconds
            # ...and the new count is the smallest wanted over the delay.
            assert after == min(window(result, i, s.scale_up_delay_seconds))
        elif after == 0:
            # Scale to zero: only with min 0, after no traffic for the delay.
            assert s.min_replicas == 0
            idle = max(s.scale_to_zero_delay_seconds, s.scale_down_delay_seconds)
            assert now - load[0].at >= idle
            assert all(
                x.requests == 0 and x.in_flight == 0 for x in load if now - idle < x.at <= now
            )
        else:
            first = streak_start(result, i, lambda w, b=before: w < b)
            assert first is not None
            assert now - first >= s.scale_down_delay_seconds
            assert after == max(window(result, i, s.scale_down_delay_seconds))
            assert after >= s.min_replicas


@PROFILE
@given(
    autoscale_settings(),
    st.integers(min_value=1, max_value=20),  # half period, in steps
    st.floats(min_value=0.0, max_value=4.0),
    st.floats(min_value=1.0, max_value=30.0),
    st.integers(min_value=0, max_value=6),
)
def test_square_wave_faster_than_delays_settles_and_stays(s, half_steps, low, high, start):
    period = 2 * half_steps * STEP
    assume(period < s.scale_up_delay_seconds and period < s.scale_down_delay_seconds)
    settle = s.traffic_history_seconds + 2 * (
        period + max(s.scale_up_delay_seconds, s.scale_down_delay_seconds)
    )
    duration = settle + 4 * period + 2 * max(s.scale_up_delay_seconds, s.scale_down_delay_seconds)
    load = []
    for k in range(int(duration // STEP) + 1):
        level = high if (k // half_steps) % 2 == 0 else low
        load.append(TrafficPoint(at=k * STEP, in_flight=level, requests=math.ceil(level * STEP)))
    result = simulate(s, load, step_seconds=STEP, start_replicas=start)
    late = {p.replicas for p in result.timeline if p.at >= settle}
    assert len(late) == 1, sorted(late)


@PROFILE
@given(autoscale_settings(min_floor=1), st.integers(min_value=1, max_value=5))
def test_never_scales_to_zero_with_min_one(s, current):
    idle = [TrafficPoint(at=float(t), in_flight=0.0, requests=0) for t in range(0, 20_000, 60)]
    decision = decide(s, 20_000.0, min(current, s.max_replicas), idle, [])
    assert decision.applied >= 1


@PROFILE
@given(
    autoscale_settings().map(lambda s: AutoscaleSettings(**{**s.__dict__, "min_replicas": 0})),
    st.integers(min_value=0, max_value=400).map(lambda n: n * STEP),
)
def test_scale_to_zero_waits_exactly_for_its_delay(s, quiet):
    # One request at t=0, then idle samples every STEP up to t=quiet.
    load = [TrafficPoint(at=0.0, in_flight=1.0, requests=1)]
    load += [TrafficPoint(at=float(t), in_flight=0.0, requests=0) for t in range(5, quiet + 5, 5)]
    now = float(quiet)
    idle = max(s.scale_to_zero_delay_seconds, s.scale_down_delay_seconds)
    decision = decide(s, now, 1, load, [])
    # The request at t=0 leaves the averaging window once now >= timeframe (with a timeframe of
    # 0 the latest sample counts, which is idle from t=5 on).
    if now >= idle and now >= s.traffic_history_seconds and now > 0:
        assert decision.applied == 0
        assert decision.reason.startswith("scale to zero")
    elif now < idle:
        assert decision.applied == 1


@PROFILE
@given(
    autoscale_settings(),
    traffic(),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=40),
)
def test_cold_start_is_immediate(s, load, waiting, offset):
    now = load[min(offset, len(load) - 1)].at
    # A history that never wanted more: the scale-up delay would block a normal scale-up.
    decision = decide(s, now, 0, load, [], waiting_requests=waiting)
    assert decision.applied >= 1
    assert decision.applied == max(1, decision.wanted)
    assert decision.applied <= s.max_replicas
