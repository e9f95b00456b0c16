"""How a prediction counts towards the average batch size (pure, no server)."""

from __future__ import annotations

import pytest

from orchestration.predict import traffic
from orchestration.predict.router import _calls


@pytest.mark.parametrize(
    ("batch_size", "inputs", "calls"),
    [
        (None, 1, 1.0),  # a runner without batching: one call per request
        (1, 1, 1.0),
        (8, 1, 0.125),  # one of eight inputs in the call
        (8, 3, 0.375),
        (2, 3, 1.0),  # a call cannot hold fewer inputs than the request sent: not trusted
        (True, 1, 1.0),
        ("8", 1, 1.0),
    ],
)
def test_share_of_a_model_call(batch_size, inputs, calls):
    assert _calls(batch_size, inputs) == pytest.approx(calls)


def test_traffic_rows_carry_inputs_and_calls(monkeypatch):
    monkeypatch.setattr(traffic, "_ensure_flusher", lambda: None)
    monkeypatch.setattr(traffic, "_counters", {})
    for share in (0.25, 0.25, 0.25, 0.25, 1.0):
        traffic.started(7)
        traffic.finished(7, 1, share)
    traffic.started(7)
    traffic.finished(7)  # a stream: no predicted inputs
    [(deployment_id, _, requests, _, inputs, calls)] = traffic.take()
    assert (deployment_id, requests, inputs, calls) == (7, 6, 5, pytest.approx(2.0))
