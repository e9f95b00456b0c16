"""The what-if simulator and the synthetic traffic shapes."""

from __future__ import annotations

import pytest

from orchestration.autoscaling.policy import AutoscaleSettings, TrafficPoint
from orchestration.autoscaling.simulate import SHAPES, simulate, synthetic_traffic


def test_steady_load_replica_hours_and_cost():
    traffic = synthetic_traffic("steady", duration_seconds=3600, peak_in_flight=8.0)
    assert len(traffic) == 720
    result = simulate(AutoscaleSettings(), traffic, start_replicas=1)
    # Wanted 2 (8 / 4) from t=0; the 300 s scale-up delay keeps 1 replica for 60 steps.
    assert result.replica_seconds == 60 * 5 * 1 + 660 * 5 * 2 == 6900
    assert result.replica_hours == pytest.approx(6900 / 3600)
    assert result.cost(0.5) == pytest.approx(6900 / 3600 * 0.5)
    assert result.duration_seconds == 3600
    assert result.peak_replicas == 2
    assert result.scale_events == 1
    assert result.cold_starts == 0

    settled = simulate(AutoscaleSettings(), traffic, start_replicas=2)
    assert settled.replica_hours == pytest.approx(2.0)
    assert settled.cost(1.25) == pytest.approx(2.5)
    assert settled.scale_events == 0


def test_idle_then_burst_counts_cold_starts_with_min_zero():
    traffic = synthetic_traffic("idle-then-burst", duration_seconds=3600)
    result = simulate(AutoscaleSettings(min_replicas=0), traffic, cold_start_seconds=10)
    assert result.cold_starts == 1
    burst = next(p for p in result.timeline if p.replicas > 0)
    assert burst.at == 1800  # the burst starts half way and is served from a cold start
    ready = next(p for p in result.timeline if p.ready > 0)
    assert ready.at == 1810
    # Requests arriving during the 10 s boot wait: the steps at 1800 and 1805.
    assert result.delayed_requests == 2 * 40
    # Nothing runs before the burst.
    assert all(p.replicas == 0 for p in result.timeline if p.at < 1800)

    warm = simulate(AutoscaleSettings(min_replicas=1), traffic)
    assert warm.cold_starts == 0
    assert warm.delayed_requests == 0


def test_two_bursts_with_short_scale_to_zero_give_two_cold_starts():
    settings = AutoscaleSettings(
        min_replicas=0,
        scale_down_delay_seconds=60,
        scale_to_zero_delay_seconds=120,
        traffic_history_seconds=30,
    )
    traffic = [
        TrafficPoint(
            at=float(t),
            in_flight=2.0 if t in (100, 105, 600) else 0.0,
            requests=10 if t in (100, 105, 600) else 0,
        )
        for t in range(0, 1000, 5)
    ]
    result = simulate(settings, traffic)
    assert result.cold_starts == 2
    zero = [d.at for d in result.decisions if d.reason.startswith("scale to zero")]
    assert zero == [225.0, 720.0]  # last traffic at 105 and 600, plus 120 s


def test_simulation_is_deterministic_and_timeline_matches_decisions():
    traffic = synthetic_traffic("bursty", duration_seconds=1800, period_seconds=300)
    a = simulate(AutoscaleSettings(min_replicas=0), traffic)
    b = simulate(AutoscaleSettings(min_replicas=0), traffic)
    assert a == b
    assert [(p.at, p.wanted, p.replicas) for p in a.timeline] == [
        (d.at, d.wanted, d.applied) for d in a.decisions
    ]


def test_empty_traffic():
    result = simulate(AutoscaleSettings(), [])
    assert result.timeline == ()
    assert result.replica_seconds == 0
    assert result.cost(3.0) == 0


def test_unsorted_traffic_is_sorted_once():
    traffic = synthetic_traffic("spike", duration_seconds=600)
    assert simulate(AutoscaleSettings(), traffic[::-1]) == simulate(AutoscaleSettings(), traffic)


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_are_deterministic_and_bounded(shape):
    first = synthetic_traffic(shape, duration_seconds=3600, step_seconds=5, peak_in_flight=8.0)
    assert first == synthetic_traffic(shape, duration_seconds=3600, step_seconds=5)
    assert len(first) == 720
    assert [s.at for s in first] == [5.0 * k for k in range(720)]
    assert all(0 <= s.in_flight <= 8.0 for s in first)
    assert all((s.requests > 0) == (s.in_flight > 0) for s in first)
    assert max(s.in_flight for s in first) == pytest.approx(8.0, rel=1e-3)


def test_shape_details():
    steady = synthetic_traffic("steady", start=1000.0, duration_seconds=60)
    assert steady[0].at == 1000.0 and {s.in_flight for s in steady} == {8.0}
    idle = synthetic_traffic("idle-then-burst")
    assert all(s.in_flight == 0 for s in idle if s.at < 1800)
    assert all(s.in_flight == 8.0 for s in idle if 1800 <= s.at < 2160)
    bursty = synthetic_traffic("bursty", period_seconds=600)
    assert {s.in_flight for s in bursty} == {0.0, 8.0}
    daily = synthetic_traffic("daily")
    assert daily[0].in_flight == 0 and daily[360].in_flight == 8.0


def test_unknown_shape():
    with pytest.raises(ValueError, match="unknown traffic shape"):
        synthetic_traffic("sawtooth")
