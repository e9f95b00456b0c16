"""Every database constraint of the data model, enforced by the database itself."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from orchestration.clusters.models import Cluster
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import Node, Nodepool


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_model):
    cluster = make_cluster(owner)
    pool = make_nodepool(cluster)
    model, version = make_model(owner)
    return cluster, pool, model, version


def _violates(**kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        kwargs.pop("factory")(**kwargs)


def test_cluster_slug_unique_per_owner_but_not_across_owners(owner, other_user, make_cluster):
    make_cluster(owner, "east")
    make_cluster(other_user, "east")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_cluster(owner, "east")


def test_cluster_slug_format_and_owner_required(owner, db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Cluster.objects.create(owner=owner, slug="Bad Slug")
    with pytest.raises(IntegrityError), transaction.atomic():
        Cluster.objects.create(owner=None, slug="orphan")


def test_nodepool_constraints(world):
    cluster, pool, *_ = world
    bad = [
        {"slug": pool.slug},
        {"slug": "x", "min_nodes": 3, "max_nodes": 1},
        {"slug": "y", "cpu_cores": Decimal("0")},
        {"slug": "z", "memory_bytes": 0},
        {"slug": "w", "price_per_hour": Decimal("-1")},
        {"slug": "Not OK"},
    ]
    for fields in bad:
        with pytest.raises(IntegrityError), transaction.atomic():
            Nodepool.objects.create(cluster=cluster, **fields)


def test_node_name_unique_per_nodepool(world, make_node):
    _, pool, *_ = world
    make_node(pool, "n1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_node(pool, "n1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Node.objects.create(
            nodepool=pool, name="n2", engine_url="x", cpu_capacity=-1, memory_capacity_bytes=1
        )


def test_model_version_numbers_increase(owner, make_model):
    model, v1 = make_model(owner, "m")
    _, v2 = make_model(owner, "m")
    assert (v1.number, v2.number) == (1, 2)
    assert v1.version_id != v2.version_id


@pytest.mark.parametrize(
    "fields",
    [
        {"min_replicas": 3, "max_replicas": 2},
        {"min_replicas": 0, "max_replicas": 0},
        {"scale_down_delay_seconds": 600, "scale_to_zero_delay_seconds": 300},
        {"target_concurrency": 0},
        {"slug": "UPPER"},
    ],
)
def test_deployment_check_constraints(world, owner, make_deployment, fields):
    _, pool, model, version = world
    fields = {"slug": "dep", **fields}
    with pytest.raises(IntegrityError), transaction.atomic():
        make_deployment(owner, model, version, pool, **fields)


def test_deployment_defaults_follow_the_spec(world, owner, make_deployment):
    _, pool, model, version = world
    d = make_deployment(owner, model, version, pool)
    assert d.autoscale_config() == {
        "min_replicas": 1,
        "max_replicas": 5,
        "scale_down_delay_seconds": 300,
        "traffic_history_seconds": 300,
        "scale_up_delay_seconds": 300,
        "scale_to_zero_delay_seconds": 1800,
        "target_concurrency": 4,
    }


def test_one_deployment_per_model_per_nodepool(world, owner, make_deployment, make_nodepool):
    cluster, pool, model, version = world
    make_deployment(owner, model, version, pool, slug="first")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_deployment(owner, model, version, pool, slug="second")
    # Another nodepool is fine.
    make_deployment(owner, model, version, make_nodepool(cluster, "gpu"), slug="third")


def test_full_clean_reports_the_duplicate_in_words(world, owner, make_deployment):
    from django.core.exceptions import ValidationError

    _, pool, model, version = world
    make_deployment(owner, model, version, pool, slug="first")
    dup = Deployment(owner=owner, slug="second", model=model, model_version=version, nodepool=pool)
    with pytest.raises(ValidationError, match="already has a deployment on this nodepool"):
        dup.full_clean()


@pytest.mark.django_db(transaction=True)
def test_racing_deployments_are_refused_by_the_database(
    owner, make_cluster, make_nodepool, make_model
):
    """Two connections insert the same model+nodepool at once: exactly one wins."""
    if connection.vendor != "postgresql":
        pytest.skip("the race needs two concurrent PostgreSQL connections")
    import psycopg

    pool = make_nodepool(make_cluster(owner))
    model, version = make_model(owner)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    insert = (
        "INSERT INTO deployments_deployment (owner_id, slug, description, model_id, "
        "model_version_id, nodepool_id, min_replicas, max_replicas, scale_down_delay_seconds, "
        "traffic_history_seconds, scale_up_delay_seconds, scale_to_zero_delay_seconds, "
        "target_concurrency, desired_replicas, status, status_message, created_at, updated_at) "
        "VALUES (%s, %s, '', %s, %s, %s, 1, 5, 300, 300, 300, 1800, 4, 1, 'pending', '', now(), now())"
    )
    first = psycopg.connect(**params)
    second = psycopg.connect(**params)
    errors = []
    try:
        first.execute(insert, (owner.pk, "a", model.pk, version.pk, pool.pk))

        def racer():
            try:
                second.execute(insert, (owner.pk, "b", model.pk, version.pk, pool.pk))
                second.commit()
            except psycopg.errors.UniqueViolation as exc:
                errors.append(exc)
                second.rollback()

        thread = threading.Thread(target=racer)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second insert should wait for the first transaction"
        first.commit()
        thread.join(timeout=10)
    finally:
        first.close()
        second.close()
    assert len(errors) == 1
    assert "one_deployment_per_model_per_nodepool" in str(errors[0])
    assert Deployment.objects.filter(model=model, nodepool=pool).count() == 1
