"""Compute pages: clusters, nodepools and nodes, for the owner, another user and a visitor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from orchestration.clusters.models import Cluster
from orchestration.deployments.models import ReplicaState
from orchestration.nodepools.models import Node, Nodepool

pytestmark = pytest.mark.django_db

SLUG_MESSAGE = "Use 1-64 lowercase letters, digits, &#x27;-&#x27; or &#x27;_&#x27;"


def _urls(world, node=None) -> list[str]:
    c, np = world.cluster.slug, world.nodepool.slug
    urls = [
        reverse("clusters:detail", args=[c]),
        reverse("clusters:edit", args=[c]),
        reverse("clusters:delete", args=[c]),
        reverse("clusters:nodepool_create", args=[c]),
        reverse("clusters:nodepool", args=[c, np]),
        reverse("clusters:nodepool_edit", args=[c, np]),
        reverse("clusters:nodepool_delete", args=[c, np]),
    ]
    return urls


def test_visitor_is_sent_to_login(visitor_client, world):
    for url in [reverse("clusters:list"), reverse("clusters:create"), *_urls(world)]:
        response = visitor_client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_other_user_gets_404_on_owner_compute(other_client, world, make_node):
    for url in _urls(world):
        assert other_client.get(url).status_code == 404, url
    node = make_node(world.nodepool)
    c, np = world.cluster.slug, world.nodepool.slug
    assert other_client.post(reverse("clusters:node_add", args=[c, np]), {}).status_code == 404
    url = reverse("clusters:node_delete", args=[c, np, node.pk])
    assert other_client.post(url).status_code == 404
    assert other_client.post(reverse("clusters:delete", args=[c])).status_code == 404
    assert Node.objects.filter(pk=node.pk).exists()
    assert Cluster.objects.filter(pk=world.cluster.pk).exists()


def test_cluster_list_shows_own_and_shared_not_others(
    owner_client, other_user, make_cluster, shared_nodepool
):
    make_cluster(other_user, "secret-west")
    response = owner_client.get(reverse("clusters:list"))
    body = response.content.decode()
    assert "secret-west" not in body
    assert "shared" in body
    assert "You have no clusters of your own yet" in body
    assert reverse("clusters:create") in body


def test_create_cluster_then_add_a_nodepool(owner_client, owner):
    response = owner_client.post(
        reverse("clusters:create"),
        {"slug": "east", "description": "US east", "cloud_provider": "aws", "region": "us-east-1"},
        follow=True,
    )
    cluster = Cluster.objects.get(owner=owner, slug="east")
    assert cluster.region == "us-east-1"
    assert response.redirect_chain[-1][0] == reverse("clusters:nodepool_create", args=["east"])
    assert "Cluster east created" in response.content.decode()


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("east", "You already have a cluster with this ID."),
        ("Bad ID!", SLUG_MESSAGE),
        ("shared", "is reserved; choose another ID."),
        ("", "This field is required."),
    ],
)
def test_create_cluster_bad_ids(owner_client, owner, make_cluster, slug, message):
    make_cluster(owner, "east")
    response = owner_client.post(
        reverse("clusters:create"), {"slug": slug, "cloud_provider": "aws", "region": "x"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert 'class="field has-error"' in body
    assert Cluster.objects.filter(owner=owner).count() == 1


def test_same_cluster_id_for_two_users(other_client, other_user, owner, make_cluster):
    make_cluster(owner, "east")
    other_client.post(
        reverse("clusters:create"), {"slug": "east", "cloud_provider": "gcp", "region": "eu"}
    )
    assert Cluster.objects.filter(slug="east").count() == 2


def test_cluster_page_lists_nodepools_and_deploy_button(owner_client, world):
    body = owner_client.get(world.cluster.get_absolute_url()).content.decode()
    assert "Deploy a model" in body
    assert reverse("deployments:create") + "?cluster=east" in body
    assert world.nodepool.get_absolute_url() in body
    assert "t3.large" in body
    assert "8Gi" in body


def test_cluster_without_nodepools_says_what_next(owner_client, owner, make_cluster):
    cluster = make_cluster(owner, "empty")
    body = owner_client.get(cluster.get_absolute_url()).content.decode()
    assert "This cluster has no nodepools yet." in body
    assert reverse("clusters:nodepool_create", args=["empty"]) in body


def test_edit_cluster_keeps_its_id(owner_client, world):
    url = reverse("clusters:edit", args=["east"])
    assert owner_client.get(url).status_code == 200
    response = owner_client.post(
        url, {"slug": "renamed", "description": "new", "cloud_provider": "gcp", "region": "eu"}
    )
    assert response.status_code == 302
    world.cluster.refresh_from_db()
    assert (world.cluster.slug, world.cluster.description) == ("east", "new")
    assert world.cluster.cloud_provider == "gcp"


def test_delete_cluster(owner_client, owner, make_cluster):
    cluster = make_cluster(owner, "gone")
    assert (
        "Delete cluster"
        in owner_client.get(reverse("clusters:delete", args=["gone"])).content.decode()
    )
    response = owner_client.post(reverse("clusters:delete", args=["gone"]), follow=True)
    assert not Cluster.objects.filter(pk=cluster.pk).exists()
    assert "Cluster gone and its nodepools were deleted." in response.content.decode()


def test_delete_cluster_with_deployments_is_refused(owner_client, owner, world, make_deployment):
    make_deployment(owner, world.model, world.version, world.nodepool, "dep")
    body = owner_client.get(reverse("clusters:delete", args=["east"])).content.decode()
    assert "still has deployments" in body
    response = owner_client.post(reverse("clusters:delete", args=["east"]), follow=True)
    assert Cluster.objects.filter(pk=world.cluster.pk).exists()
    assert "delete them first" in response.content.decode()


def test_shared_cluster_visible_but_not_editable(other_client, shared_nodepool, admin_user):
    cluster = shared_nodepool.cluster
    body = other_client.get(cluster.get_absolute_url()).content.decode()
    assert "Deploy a model" in body
    assert reverse("clusters:edit", args=["shared"]) not in body
    assert other_client.get(reverse("clusters:edit", args=["shared"])).status_code == 403
    assert other_client.post(reverse("clusters:delete", args=["shared"])).status_code == 403
    assert other_client.get(reverse("clusters:nodepool_create", args=["shared"])).status_code == 403
    assert other_client.get(shared_nodepool.get_absolute_url()).status_code == 200
    assert Cluster.objects.filter(pk=cluster.pk).exists()


def test_staff_may_edit_but_not_delete_shared(client, admin_user, shared_nodepool):
    client.force_login(admin_user)
    assert client.get(reverse("clusters:edit", args=["shared"])).status_code == 200
    client.post(reverse("clusters:delete", args=["shared"]))
    assert Cluster.objects.filter(is_shared=True).exists()


# -- nodepools -------------------------------------------------------------------------


def _nodepool_data(**overrides) -> dict:
    data = {
        "slug": "gpu",
        "description": "GPUs",
        "instance_type": "g5.xlarge",
        "cpu_cores": "4",
        "memory_bytes": "16Gi",
        "accelerators": "1",
        "accelerator_type": "NVIDIA A10G",
        "price_per_hour": "1.006",
        "min_nodes": "0",
        "max_nodes": "3",
    }
    data.update(overrides)
    return data


def test_create_nodepool_with_memory_quantity(owner_client, world):
    response = owner_client.post(
        reverse("clusters:nodepool_create", args=["east"]), _nodepool_data()
    )
    nodepool = Nodepool.objects.get(cluster=world.cluster, slug="gpu")
    assert response.status_code == 302
    assert response["Location"] == nodepool.get_absolute_url()
    assert nodepool.memory_bytes == 16 * 1024**3
    assert nodepool.cpu_cores == Decimal("4")
    assert nodepool.price_per_hour == Decimal("1.006")


def test_nodepool_form_shows_memory_as_quantity(owner_client, world):
    body = owner_client.get(
        reverse("clusters:nodepool_edit", args=["east", "cpu"])
    ).content.decode()
    assert 'value="8Gi"' in body


@pytest.mark.parametrize(
    ("overrides", "field_message"),
    [
        ({"slug": "cpu"}, "This cluster already has a nodepool with this ID."),
        ({"slug": "GPU pool"}, SLUG_MESSAGE),
        ({"slug": "edit"}, "is reserved"),
        ({"min_nodes": "5", "max_nodes": "2"}, "Minimum nodes cannot be more than maximum nodes."),
        ({"memory_bytes": "16GB"}, "did you mean 16Gi or 16G?"),
        ({"cpu_cores": "0"}, "Ensure this value is greater than or equal to 0.001."),
        ({"price_per_hour": "-1"}, "Ensure this value is greater than or equal to 0."),
    ],
)
def test_create_nodepool_bad_input(owner_client, world, overrides, field_message):
    response = owner_client.post(
        reverse("clusters:nodepool_create", args=["east"]), _nodepool_data(**overrides)
    )
    assert response.status_code == 200
    assert field_message in response.content.decode()
    assert Nodepool.objects.filter(cluster=world.cluster).count() == 1


def test_create_nodepool_from_the_deploy_flow_returns_to_the_form(owner_client, world):
    url = reverse("clusters:nodepool_create", args=["east"]) + "?deploy=1&model=sentiment"
    response = owner_client.post(url, _nodepool_data())
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("deployments:create") + "?cluster=east&nodepool=gpu&model=sentiment"
    )


def test_nodepool_page_lists_nodes_and_deployed_models(
    owner_client, owner, other_user, world, make_node, make_deployment, make_model, shared_nodepool
):
    node = make_node(world.nodepool, "node-1")
    deployment = make_deployment(owner, world.model, world.version, world.nodepool, "sent-east")
    deployment.replicas.create(
        model_version=world.version, node=node, state=ReplicaState.READY, address="1.2.3.4:9000"
    )
    response = owner_client.get(world.nodepool.get_absolute_url())
    body = response.content.decode()
    assert "node-1" in body
    assert "unix:///var/run/docker.sock" in body
    assert "sent-east" in body and "sentiment" in body
    assert "1 / 1" in body  # ready / desired
    # CPU used / free: one replica asks for the default 1 core of the node's 2.
    assert "1 / 1 <span" in body
    assert "Deploy a model" in body
    assert reverse("deployments:create") + "?cluster=east&amp;nodepool=cpu" in body
    assert 'for="id_engine_url"' in body


def test_shared_nodepool_shows_only_own_deployments(
    owner_client, owner, other_user, make_model, make_deployment, shared_nodepool
):
    mine, v1 = make_model(owner, "mine")
    theirs, v2 = make_model(other_user, "theirs")
    make_deployment(owner, mine, v1, shared_nodepool, "mine-shared")
    make_deployment(other_user, theirs, v2, shared_nodepool, "theirs-shared")
    body = owner_client.get(shared_nodepool.get_absolute_url()).content.decode()
    assert "mine-shared" in body
    assert "theirs-shared" not in body
    assert "Add a node" not in body  # only staff change the shared nodepool


def test_nodepool_without_nodes_or_deployments_says_what_next(owner_client, world):
    body = owner_client.get(world.nodepool.get_absolute_url()).content.decode()
    assert "This nodepool has no nodes yet." in body
    assert "No models are deployed here yet." in body


def test_edit_and_delete_nodepool(owner_client, world):
    url = reverse("clusters:nodepool_edit", args=["east", "cpu"])
    response = owner_client.post(url, _nodepool_data(slug="cpu", description="edited"))
    assert response.status_code == 302
    world.nodepool.refresh_from_db()
    assert world.nodepool.description == "edited"
    assert world.nodepool.memory_bytes == 16 * 1024**3
    url = reverse("clusters:nodepool_delete", args=["east", "cpu"])
    assert owner_client.get(url).status_code == 200
    response = owner_client.post(url)
    assert response["Location"] == world.cluster.get_absolute_url()
    assert not Nodepool.objects.filter(pk=world.nodepool.pk).exists()


def test_delete_nodepool_with_deployments_is_refused(owner_client, owner, world, make_deployment):
    make_deployment(owner, world.model, world.version, world.nodepool, "dep")
    owner_client.post(reverse("clusters:nodepool_delete", args=["east", "cpu"]))
    assert Nodepool.objects.filter(pk=world.nodepool.pk).exists()


# -- nodes ------------------------------------------------------------------------------


def test_add_node_queues_a_probe(owner_client, world, queued, django_capture_on_commit_callbacks):
    url = reverse("clusters:node_add", args=["east", "cpu"])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            url,
            {"name": "gpu-host", "engine_url": "tcp://10.0.0.5:2376", "address": ""}
            | {"cpu_capacity": "2", "memory_capacity_bytes": "8Gi", "accelerators": "0"},
        )
    assert response.status_code == 302
    node = Node.objects.get(nodepool=world.nodepool, name="gpu-host")
    assert node.address == "10.0.0.5"  # the engine's host, when no address is given
    assert node.memory_capacity_bytes == 8 * 1024**3
    assert queued.calls == [("probe_node", (node.pk,))]


def test_add_node_form_defaults_to_instance_type(owner_client, world):
    body = owner_client.get(world.nodepool.get_absolute_url()).content.decode()
    assert 'name="memory_capacity_bytes" value="8Gi"' in body
    assert 'name="cpu_capacity" value="2' in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"engine_url": "docker.example.com"}, "Use a Docker engine URL"),
        ({"engine_url": "tcp://"}, "The engine URL needs a host"),
        ({"name": "node-1"}, "This nodepool already has a node with this name."),
        ({"name": "Node 1"}, SLUG_MESSAGE),
        ({"memory_capacity_bytes": "lots"}, "is not a memory quantity"),
    ],
)
def test_add_node_bad_input(owner_client, world, make_node, queued, data, message):
    make_node(world.nodepool, "node-1")
    form = {
        "name": "node-2",
        "engine_url": "unix:///var/run/docker.sock",
        "cpu_capacity": "2",
        "memory_capacity_bytes": "8Gi",
        "accelerators": "0",
    } | data
    response = owner_client.post(reverse("clusters:node_add", args=["east", "cpu"]), form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Node.objects.filter(nodepool=world.nodepool).count() == 1
    assert queued.calls == []


def test_delete_node(owner_client, world, make_node):
    node = make_node(world.nodepool, "node-1")
    response = owner_client.post(reverse("clusters:node_delete", args=["east", "cpu", node.pk]))
    assert response.status_code == 302
    assert not Node.objects.filter(pk=node.pk).exists()


def test_delete_node_with_live_replicas_is_refused(
    owner_client, owner, world, make_node, make_deployment
):
    node = make_node(world.nodepool, "node-1")
    deployment = make_deployment(owner, world.model, world.version, world.nodepool, "dep")
    deployment.replicas.create(model_version=world.version, node=node, state=ReplicaState.READY)
    response = owner_client.post(
        reverse("clusters:node_delete", args=["east", "cpu", node.pk]), follow=True
    )
    assert Node.objects.filter(pk=node.pk).exists()
    assert "still runs 1 replica(s)" in response.content.decode()
