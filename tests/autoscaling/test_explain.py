"""The one-line reason for a replica count, from the policy's own decision (pure)."""

from __future__ import annotations

import pytest

from orchestration.autoscaling.policy import (
    DECISION_KINDS,
    AutoscaleSettings,
    Decision,
    TrafficSummary,
    decide,
    explain,
)


def config(**kw) -> AutoscaleSettings:
    values = {
        "min_replicas": 1,
        "max_replicas": 5,
        "scale_down_delay_seconds": 300,
        "traffic_history_seconds": 60,
        "scale_up_delay_seconds": 60,
        "scale_to_zero_delay_seconds": 1800,
        "target_concurrency": 4,
    }
    return AutoscaleSettings(**{**values, **kw})


def line(settings, avg, current, history=(), idle=(False, 0.0), waiting=0, now=1000.0):
    summary = TrafficSummary(avg, *idle)
    decision = decide(settings, now, current, (), list(history), waiting, summary=summary)
    return decision.kind, explain(settings, summary, decision, current)


def test_the_issue_example_a_scale_up_waiting_out_its_delay():
    # Wanted 3 since 20 s ago: 40 s of the 60 s delay remain.
    history = [Decision(980.0, 3, 1, "")]
    kind, text = line(config(), 11.2, 1, history)
    assert kind == "hold_up_delay"
    assert text == (
        "wants 3: average 11.2 in flight over 60 s / target 4; "
        "scale-up waits 40 s more of its 60 s delay"
    )


def test_a_steady_count():
    assert line(config(), 7.5, 2)[1] == (
        "wants 2: average 7.5 in flight over 60 s / target 4; 2 running, as wanted"
    )


def test_bounds_say_they_clamped_the_wish():
    assert line(config(), 0.0, 1)[1] == (
        "wants 1: average 0.0 in flight over 60 s / target 4, raised to the minimum 1; "
        "1 running, as wanted"
    )
    assert line(config(), 40.0, 5)[1] == (
        "wants 5: average 40.0 in flight over 60 s / target 4, capped at the maximum 5; "
        "5 running, as wanted"
    )


def test_scaling_now_and_scale_down_delay():
    kind, text = line(config(scale_up_delay_seconds=0), 9.0, 1)
    assert (kind, text.split("; ")[1]) == ("scale_up", "scaling up 1→3 now")
    kind, text = line(config(), 1.0, 3, [Decision(900.0, 1, 3, "")])
    assert kind == "hold_down_delay"
    assert text.endswith("scale-down waits 200 s more of its 300 s delay")


def test_scale_to_zero_waiting_and_done():
    settings = config(min_replicas=0, scale_down_delay_seconds=60, scale_to_zero_delay_seconds=300)
    kind, text = line(settings, 0.0, 1, idle=(False, 120.0))
    assert kind == "hold_zero_delay"
    assert text == (
        "wants 1: average 0.0 in flight over 60 s / target 4; "
        "no traffic for 120 s: scale to zero waits 180 s more of its 300 s delay"
    )
    kind, text = line(settings, 0.0, 1, idle=(True, 300.0))
    assert (kind, text.split("; ")[1]) == ("scale_to_zero", "scaling to zero: no traffic for 300 s")
    kind, text = line(settings, 0.0, 0, idle=(True, 900.0))
    assert text.endswith("scaled to zero; a request starts a replica")


@pytest.mark.parametrize("current", [0, 7])
def test_cold_start_and_clamps(current):
    settings = config(min_replicas=0)
    kind, text = line(settings, 0.0, current, waiting=1 if current == 0 else 0)
    if current == 0:
        assert kind == "cold_start"
        assert text.endswith("a request is waiting at 0 replicas: starting 1")
    else:
        assert kind == "clamp_max"
        assert text.endswith("lowering 7→5, the maximum")
    kind, text = line(config(min_replicas=2), 0.0, 1)
    assert (kind, text.split("; ")[1]) == ("clamp_min", "raising 1→2, the minimum")


def test_every_decision_has_a_known_kind():
    seen = set()
    for avg in (0.0, 3.0, 9.0, 50.0):
        for current in range(0, 8):
            for idle in ((False, 10.0), (True, 5000.0)):
                settings = config(min_replicas=0)
                seen.add(line(settings, avg, current, idle=idle, waiting=current == 0)[0])
                seen.add(line(config(), avg, current, [Decision(990.0, 9, current, "")])[0])
    assert seen <= set(DECISION_KINDS)
    assert len(seen) >= 7
