"""Which failed replicas slow the next start: crash loops back off, a replica that served
and was then killed (or OOM-killed, or lost with its node) is replaced at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration.deployments.models import Replica, ReplicaState
from orchestration.deployments.reconcile import CRASH_LOOP_SECONDS, crash_loop_failures

pytestmark = pytest.mark.django_db


@pytest.fixture
def dep(owner, make_cluster, make_nodepool, make_model, make_deployment):
    model, version = make_model(owner)
    return make_deployment(owner, model, version, make_nodepool(make_cluster(owner)), "d")


def _failed(dep, *, served: float | None, ago: float = 1.0):
    now = timezone.now()
    stopped = now - timedelta(seconds=ago)
    ready = None if served is None else stopped - timedelta(seconds=served)
    return Replica.objects.create(
        deployment=dep,
        model_version=dep.model_version,
        state=ReplicaState.FAILED,
        ready_at=ready,
        stopped_at=stopped,
    )


def test_only_replicas_that_never_served_long_count(dep):
    now = timezone.now()
    assert crash_loop_failures(dep, now) == 0
    _failed(dep, served=None)  # never got ready: a crash at start
    _failed(dep, served=CRASH_LOOP_SECONDS / 3)  # died soon after ready
    assert crash_loop_failures(dep, now) == 2
    _failed(dep, served=CRASH_LOOP_SECONDS * 10)  # served, then was killed
    assert crash_loop_failures(dep, now) == 2
    _failed(dep, served=None, ago=11 * 60)  # too long ago to matter
    assert crash_loop_failures(dep, now) == 2
