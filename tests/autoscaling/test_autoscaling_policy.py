"""Scenario tables for the autoscaling policy: exact decision times for known loads."""

from __future__ import annotations

import pytest

from orchestration.autoscaling.policy import (
    AutoscaleSettings,
    Decision,
    TrafficPoint,
    decide,
    history_lookback_seconds,
    traffic_lookback_seconds,
)
from orchestration.autoscaling.simulate import simulate

STEP = 5


def step_load(levels: list[tuple[float, float]], end: float) -> list[TrafficPoint]:
    """Samples every STEP s from 0 to ``end``; ``levels`` = [(from_t, in_flight), ...]."""
    samples = []
    t = 0.0
    while t <= end:
        level = 0.0
        for start, value in levels:
            if t >= start:
                level = value
        requests = int(level * STEP)
        samples.append(TrafficPoint(at=t, in_flight=level, requests=requests))
        t += STEP
    return samples


def changes(result) -> list[tuple[float, int]]:
    """(time, new replica count) for every step that changed the count."""
    out = []
    previous = result.start_replicas
    for point in result.timeline:
        if point.replicas != previous:
            out.append((point.at, point.replicas))
        previous = point.replicas
    return out


FAST = AutoscaleSettings(
    min_replicas=1,
    max_replicas=5,
    scale_up_delay_seconds=60,
    scale_down_delay_seconds=120,
    traffic_history_seconds=30,
    scale_to_zero_delay_seconds=300,
    target_concurrency=4,
)
# 12 in flight from t=100 to t=600, nothing before or after.
PULSE = step_load([(100, 12.0), (600, 0.0)], end=1000)


def test_up_and_down_exact_times():
    # Averages over (t-30, t] (6 samples): t=100 → 2 (wanted 1), 105 → 4 (1), 110 → 6 (2),
    # 115 → 8 (2), 120 → 10 (3), 125+ → 12 (3).
    # Wanted > 1 since t=110, so at t=170 (110 <= 170-60) the window is covered: the smallest
    # count wanted in it is 2. Wanted > 2 since t=120 → 3 at t=180.
    # After the drop at 600: t=600 → avg 10 (3), 605 → 8 (2), 615 → 4 (1).
    # Wanted < 3 since 605 → at 725 (605 <= 725-120) the largest wanted in the window is 2;
    # wanted < 2 since 615 → 1 at 735.
    result = simulate(FAST, PULSE, step_seconds=STEP, start_replicas=1)
    assert changes(result) == [(170, 2), (180, 3), (725, 2), (735, 1)]
    by_time = {d.at: d for d in result.decisions}
    assert by_time[170].reason == "scale up 1→2: wanted ≥2 for 60 s"
    assert by_time[180].reason == "scale up 2→3: wanted ≥3 for 60 s"
    assert by_time[725].reason == "scale down 3→2: wanted ≤2 for 120 s"
    assert by_time[735].reason == "scale down 2→1: wanted ≤1 for 120 s"
    assert by_time[165].reason == "hold: scale-up delay not reached (wanted 3 for 55 s of 60 s)"
    assert by_time[700].reason == "hold: scale-down delay not reached (wanted 1 for 95 s of 120 s)"
    assert by_time[300].reason == "hold: 3 wanted and running"


def test_scale_to_zero_and_cold_start_exact_times():
    settings = AutoscaleSettings(**{**FAST.__dict__, "min_replicas": 0})
    result = simulate(settings, PULSE, step_seconds=STEP, start_replicas=0)
    # t=100: request waits at 0 replicas, wanted is ceil(2/4)=1 → cold start to 1 at once.
    # Last traffic sample is at 595, so (t-300, t] holds no traffic from t=895 on.
    assert changes(result) == [(100, 1), (170, 2), (180, 3), (725, 2), (735, 1), (895, 0)]
    by_time = {d.at: d for d in result.decisions}
    assert by_time[100].reason == "cold start: request waiting at 0 replicas (0→1)"
    assert by_time[895].reason == "scale to zero: no traffic for 300 s"
    assert by_time[890].reason == "hold: scale-to-zero delay not reached (idle 295 s of 300 s)"
    assert result.cold_starts == 1


def test_spec_defaults_steady_load():
    traffic = step_load([(0, 8.0)], end=900)
    result = simulate(AutoscaleSettings(), traffic, step_seconds=STEP, start_replicas=1)
    # Wanted 2 from the first decision at t=0: the 300 s window is covered at t=300.
    assert changes(result) == [(300, 2)]


def test_zero_delays_act_at_once():
    settings = AutoscaleSettings(**{**FAST.__dict__, "scale_up_delay_seconds": 0})
    result = simulate(settings, PULSE, step_seconds=STEP, start_replicas=1)
    assert changes(result)[:2] == [(110, 2), (120, 3)]
    assert result.decisions[22].reason == "scale up 1→2: wanted 2 (no scale-up delay)"


def test_oscillation_inside_the_window_holds():
    # Wanted 2 for 55 s, then one decision wanting 1: the streak restarts.
    history = [Decision(at=float(t), wanted=2, applied=1, reason="") for t in range(0, 60, 5)]
    history[-1] = Decision(at=55.0, wanted=1, applied=1, reason="")
    traffic = [TrafficPoint(at=float(t), in_flight=8.0, requests=40) for t in range(0, 65, 5)]
    decision = decide(FAST, 60.0, 1, traffic, history)
    assert decision.applied == 1
    assert decision.wanted == 2
    assert decision.reason.startswith("hold: scale-up delay not reached")


def test_history_gap_closes_the_window():
    # A decision's wanted count holds until the next one: an old decision wanting 3 covers it.
    history = [Decision(at=0.0, wanted=3, applied=1, reason="")]
    traffic = [TrafficPoint(at=500.0, in_flight=12.0, requests=60)]
    decision = decide(FAST, 500.0, 1, traffic, history)
    assert decision.applied == 3


def test_entries_after_now_are_ignored():
    history = [Decision(at=float(t), wanted=3, applied=1, reason="") for t in range(0, 200, 5)]
    traffic = [TrafficPoint(at=float(t), in_flight=12.0, requests=60) for t in range(0, 200, 5)]
    decision = decide(FAST, 30.0, 1, traffic, history)
    assert decision.applied == 1  # only 0..30 counts: 30 s of 60 s


@pytest.mark.parametrize(
    ("current", "min_r", "max_r", "waiting", "applied", "reason"),
    [
        (7, 1, 5, 0, 5, "settings: clamp to max"),
        (3, 0, 2, 4, 2, "settings: clamp to max"),
        (0, 2, 5, 0, 2, "settings: clamp to min"),
        (1, 3, 5, 0, 3, "settings: clamp to min"),
        (0, 0, 5, 1, 1, "cold start: request waiting at 0 replicas (0→1)"),
        (0, 2, 5, 1, 2, "cold start: request waiting at 0 replicas (0→2)"),
        (0, 0, 5, 0, 0, "hold: 0 wanted and running"),
    ],
)
def test_immediate_rules(current, min_r, max_r, waiting, applied, reason):
    settings = AutoscaleSettings(min_replicas=min_r, max_replicas=max_r)
    decision = decide(settings, 1000.0, current, [], [], waiting_requests=waiting)
    assert (decision.applied, decision.reason) == (applied, reason)


def test_cold_start_uses_wanted_count():
    settings = AutoscaleSettings(min_replicas=0)
    traffic = [TrafficPoint(at=float(t), in_flight=10.0, requests=50) for t in range(0, 100, 5)]
    decision = decide(settings, 95.0, 0, traffic, [], waiting_requests=3)
    assert (decision.wanted, decision.applied) == (3, 3)


def test_wanted_formula():
    settings = AutoscaleSettings(traffic_history_seconds=20, target_concurrency=4, max_replicas=9)
    # Window (80, 100]: samples 85, 90, 95, 100 → mean (4 + 4 + 8 + 8) / 4 = 6 → ceil(1.5) = 2.
    traffic = [
        TrafficPoint(at=80.0, in_flight=100.0, requests=1),
        TrafficPoint(at=85.0, in_flight=4.0, requests=1),
        TrafficPoint(at=90.0, in_flight=4.0, requests=1),
        TrafficPoint(at=95.0, in_flight=8.0, requests=1),
        TrafficPoint(at=100.0, in_flight=8.0, requests=1),
    ]
    assert decide(settings, 100.0, 2, traffic, []).wanted == 2
    assert decide(settings, 100.0, 2, [], []).wanted == 1  # no samples: average 0, min 1
    exact = [TrafficPoint(at=100.0, in_flight=12.0, requests=1)]
    assert decide(settings, 100.0, 3, exact, []).wanted == 3  # 12/4 is exactly 3
    many = [TrafficPoint(at=100.0, in_flight=1000.0, requests=1)]
    assert decide(settings, 100.0, 3, many, []).wanted == 9  # clamped to max


def test_min_zero_keeps_last_replica_without_idle_evidence():
    settings = AutoscaleSettings(min_replicas=0, scale_to_zero_delay_seconds=600)
    # No traffic data at all: idleness is not established, so the last replica stays.
    decision = decide(settings, 5000.0, 1, [], [])
    assert (decision.wanted, decision.applied) == (1, 1)
    assert decision.reason.startswith("hold: scale-to-zero delay not reached")
    # Zero samples reaching back past the delay: idle → zero at once.
    idle = [TrafficPoint(at=float(t), in_flight=0.0, requests=0) for t in range(4000, 5005, 5)]
    assert decide(settings, 5000.0, 1, idle, []).applied == 0
    # A single request inside the delay keeps it.
    busy = [*idle[:-10], TrafficPoint(at=4955.0, in_flight=0.0, requests=1), *idle[-9:]]
    assert decide(settings, 5000.0, 1, busy, []).applied == 1


def test_scale_to_zero_never_with_min_one():
    idle = [TrafficPoint(at=float(t), in_flight=0.0, requests=0) for t in range(0, 5005, 5)]
    assert decide(AutoscaleSettings(min_replicas=1), 5000.0, 1, idle, []).applied == 1


def test_lookbacks_cover_the_windows():
    s = AutoscaleSettings()
    assert traffic_lookback_seconds(s) > 1800
    assert history_lookback_seconds(s) > 300


def test_from_object_reads_mappings_and_attributes():
    class Deployment:
        min_replicas = 0
        max_replicas = 3
        target_concurrency = None

    assert AutoscaleSettings.from_object({"max_replicas": 2}) == AutoscaleSettings(max_replicas=2)
    settings = AutoscaleSettings.from_object(Deployment())
    assert (settings.min_replicas, settings.max_replicas, settings.target_concurrency) == (0, 3, 4)
