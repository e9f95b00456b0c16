"""A traffic flush does not queue behind a table lock (real PostgreSQL, two sessions)."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import OperationalError, connection

from orchestration.deployments.models import TrafficSample
from orchestration.predict import traffic


@pytest.fixture
def deployment(owner, make_cluster, make_nodepool, make_model, make_deployment):
    model, version = make_model(owner)
    return make_deployment(owner, model, version, make_nodepool(make_cluster(owner)), "d")


@pytest.fixture
def other_session(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("lock waits are PostgreSQL's")
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=False,
    ) as other:
        yield other
        other.rollback()


def test_a_flush_gives_up_on_a_held_table_lock_and_the_next_one_writes(deployment, other_session):
    table = TrafficSample._meta.db_table
    other_session.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    traffic.started(deployment.pk)
    traffic.finished(deployment.pk)
    began = time.monotonic()
    with pytest.raises(OperationalError, match="lock timeout"):
        traffic.flush()
    # Well under PostgreSQL's deadlock check (1 s): the lock holder is never the victim.
    assert time.monotonic() - began < 0.9
    other_session.rollback()
    connection.close()

    traffic.started(deployment.pk)
    traffic.finished(deployment.pk)
    assert traffic.flush() == 1
    assert TrafficSample.objects.filter(deployment=deployment).count() == 1
