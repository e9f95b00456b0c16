"""The predict path's Prometheus series, with each deployment's label children cached.

`labels()` validates and locks on every call; a request touches five series, so each
deployment's children are looked up once per process and kept (one entry per
deployment this process has served).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.metrics import instruments as m


@dataclass(frozen=True)
class DeploymentSeries:
    in_flight: object
    replica_latency: object
    cold_starts: object
    cold_start_wait: object
    model_inputs: object
    model_calls: object


_series: dict[tuple[str, ...], DeploymentSeries] = {}
_answered: dict[tuple[str, ...], tuple[object, object]] = {}


def series(labels: tuple[str, ...]) -> DeploymentSeries:
    found = _series.get(labels)
    if found is None:
        found = _series[labels] = DeploymentSeries(
            m.PREDICT_IN_FLIGHT.labels(*labels),
            m.REPLICA_LATENCY.labels(*labels),
            m.COLD_STARTS.labels(*labels),
            m.COLD_START_WAIT.labels(*labels),
            m.MODEL_INPUTS.labels(*labels),
            m.MODEL_CALLS.labels(*labels),
        )
    return found


def answered(labels: tuple[str, ...], code: int, transport: str, seconds: float) -> None:
    """A predict request got its answer: count it by code and time it."""
    key = (*labels, str(code), transport)
    children = _answered.get(key)
    if children is None:
        children = _answered[key] = (
            m.PREDICT_REQUESTS.labels(*labels, str(code), transport),
            m.PREDICT_LATENCY.labels(*labels, transport),
        )
    children[0].inc()
    children[1].observe(seconds)


def rate_limited(limit: str) -> None:
    m.RATE_LIMITED.labels(limit).inc()
