"""The deployment page's average batch size: inputs per model call over the last hour."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration.deployments.history import traffic_history
from orchestration.deployments.models import TrafficSample

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(owner, make_cluster, make_nodepool, make_model, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    model, version = make_model(owner, "sentiment")
    return make_deployment(owner, model, version, pool, slug="sent")


def _sample(deployment, seconds_ago: int, inputs: int, batches: float) -> None:
    TrafficSample.objects.create(
        deployment=deployment,
        at=timezone.now() - timedelta(seconds=seconds_ago),
        interval_seconds=5.0,
        requests=inputs,
        in_flight=2.0,
        inputs=inputs,
        batches=batches,
    )


def test_inputs_over_model_calls(deployment, owner_client):
    # Two web processes' rows: 40 single-input requests rode in 5 calls, then 10 in 5.
    _sample(deployment, 120, 40, 5.0)
    _sample(deployment, 60, 10, 5.0)
    assert traffic_history(deployment).average_batch_size == pytest.approx(5.0)
    page = owner_client.get("/deployments/sent/").content.decode()
    assert 'id="batch-size"' in page
    assert "average batch 5" in page


def test_no_predictions_no_figure(deployment, owner_client):
    assert traffic_history(deployment).average_batch_size is None
    _sample(deployment, 60, 0, 0.0)  # streams only: requests, but no predicted inputs
    assert traffic_history(deployment).average_batch_size is None
    assert 'id="batch-size"' not in owner_client.get("/deployments/sent/").content.decode()
