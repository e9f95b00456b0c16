"""Deleting a deployment converges even when a node cannot be reached (issue 12, defect 6).

Its containers on the unreachable node are recorded as orphaned and removed when the
node answers again; the row goes at once, and the model can be deployed on the nodepool
again while (and after) the old deployment is deleting.
"""

from __future__ import annotations

import contextlib

import docker
import pytest
from django.db import IntegrityError, transaction

from orchestration import docker_engine
from orchestration.celery import app as celery_app
from orchestration.deployments.actions import request_delete
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import (
    Deployment,
    DeploymentStatus,
    OrphanedContainers,
    Replica,
    ReplicaState,
)
from orchestration.deployments.tasks import delete_deployment
from orchestration.nodepools.models import NodeStatus
from orchestration.nodepools.tasks import probe_node
from tests.api.support import ApiClient, deployment_body
from tests.conftest import requires_docker

UNREACHABLE = "tcp://127.0.0.1:1"
ENGINE = "unix:///var/run/docker.sock"
BASE_IMAGE = "orchestration/base:bookworm-py311"


@pytest.fixture
def eager():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_node, make_model, make_deployment):
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    node = make_node(pool, "far", engine_url=UNREACHABLE, status=NodeStatus.READY)
    model, version = make_model(owner, "sentiment", image="orchestration/sentiment:x")
    dep = make_deployment(owner, model, version, pool, slug="dep")
    Replica.objects.create(
        deployment=dep,
        model_version=version,
        node=node,
        container_id="c0ffee",
        address="10.0.0.9:9000",
        state=ReplicaState.READY,
    )
    return dep, node


@pytest.mark.django_db
def test_delete_on_an_unreachable_node_finishes_and_records_the_orphans(eager, world):
    dep, node = world
    request_delete(dep)
    delete_deployment.apply(args=(dep.pk,)).get()  # raises if it failed or kept retrying

    assert not Deployment.objects.filter(pk=dep.pk).exists()
    orphan = OrphanedContainers.objects.get(node=node)
    assert (orphan.deployment_key, orphan.deployment_slug) == (dep.pk, "dep")
    assert orphan.container_ids == ["c0ffee"]
    node.refresh_from_db()
    assert node.status == NodeStatus.UNREACHABLE
    # A second run (a redelivered task) changes nothing and does not fail.
    delete_deployment.apply(args=(dep.pk,)).get()
    assert OrphanedContainers.objects.count() == 1


@pytest.mark.django_db
def test_unreachable_node_keeps_its_orphans_until_it_answers(eager, world):
    dep, node = world
    request_delete(dep)
    delete_deployment.apply(args=(dep.pk,)).get()
    assert probe_node.apply(args=(node.pk,)).get() == NodeStatus.UNREACHABLE
    assert OrphanedContainers.objects.filter(node=node).exists()


@pytest.mark.django_db
def test_a_deleting_deployment_does_not_block_a_new_one_on_the_nodepool(world):
    from orchestration.accounts.models import AccessToken

    dep, node = world
    request_delete(dep)  # no worker runs: it stays `deleting`
    api = ApiClient(AccessToken.issue(dep.owner, "tests")[1])
    response = api.post("deployments/", deployment_body(id="again", autoscale_config=None))
    assert response.status_code == 201, response.content
    assert Deployment.objects.filter(model=dep.model, nodepool=dep.nodepool).count() == 2
    # The database still refuses a second live deployment of the model on the nodepool.
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.create(
            owner=dep.owner,
            slug="third",
            model=dep.model,
            model_version=dep.model_version,
            nodepool=dep.nodepool,
        )
    response = api.post("deployments/", deployment_body(id="fourth", autoscale_config=None))
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "nodepool_id"


@pytest.mark.django_db
def test_portal_deploy_form_ignores_a_deleting_deployment(world, owner_client):
    dep, node = world
    request_delete(dep)
    from orchestration.deployments.forms import DeploymentCreateForm

    form = DeploymentCreateForm(
        data={
            "slug": "again",
            "description": "",
            "model": "sentiment",
            "model_version": dep.model_version.version_id,
            "cluster": "east",
            "nodepool": "cpu",
        },
        user=dep.owner,
    )
    form.is_valid()
    assert "nodepool" not in form.errors, form.errors


@requires_docker
@pytest.mark.docker
@pytest.mark.django_db
def test_orphans_are_removed_when_the_node_comes_back(eager, world):
    dep, node = world
    client = docker.DockerClient(base_url=ENGINE)
    container = client.containers.run(
        BASE_IMAGE,
        ["sleep", "300"],
        detach=True,
        labels={**container_labels(dep.pk), "orchestration.managed": "true"},
    )
    other = client.containers.run(
        BASE_IMAGE, ["sleep", "300"], detach=True, labels=container_labels(dep.pk + 10_000)
    )
    try:
        request_delete(dep)
        delete_deployment.apply(args=(dep.pk,)).get()
        assert not Deployment.objects.filter(pk=dep.pk).exists()
        assert OrphanedContainers.objects.filter(node=node).exists()
        # While the node is away its container stays (nothing could reach it).
        assert docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk))

        # The engine answers again at the node's URL: the probe removes the orphans.
        node.engine_url = ENGINE
        node.save(update_fields=["engine_url"])
        assert probe_node.apply(args=(node.pk,)).get() == NodeStatus.READY
        assert docker_engine.list_containers(ENGINE, labels=container_labels(dep.pk)) == []
        assert not OrphanedContainers.objects.filter(node=node).exists()
        # Only the deleted deployment's containers go.
        other.reload()
        assert other.status == "running"
    finally:
        for leftover in (container, other):
            with contextlib.suppress(docker.errors.NotFound):
                leftover.remove(force=True)
        client.close()


@pytest.mark.django_db
def test_deleting_status_is_what_the_constraint_skips(world):
    dep, _ = world
    constraint = next(
        c for c in Deployment._meta.constraints if c.name == "one_deployment_per_model_per_nodepool"
    )
    assert constraint.condition is not None
    Deployment.objects.filter(pk=dep.pk).update(status=DeploymentStatus.DELETING)
    Deployment.objects.create(
        owner=dep.owner,
        slug="again",
        model=dep.model,
        model_version=dep.model_version,
        nodepool=dep.nodepool,
    )
