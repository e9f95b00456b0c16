"""Swarm nodepools in the portal: the nodepool form's Runtime fieldset, the nodepool page,
and the node controls a swarm nodepool does without.

The Swarm manager is not contacted: `swarm_nodes.check` (what the actions ask) is
replaced by a fake that records its calls and answers as the test says.
"""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from orchestration.nodepools import swarm_nodes
from orchestration.nodepools.models import Node, Nodepool

pytestmark = pytest.mark.django_db

MANAGER = "unix:///var/run/docker.sock"
WORKER_REFUSAL = (
    "unix:///var/run/docker-node2.sock: this engine is a Swarm worker, not a manager; "
    "give a manager's engine URL"
)


@pytest.fixture
def synced(monkeypatch, queued):
    """Node syncs queued after commit land in the portal's `queued` record."""
    from orchestration.nodepools import tasks

    from .conftest import _FakeTask

    monkeypatch.setattr(tasks, "sync_swarm_nodes", _FakeTask("sync_swarm_nodes", queued))
    return queued


@pytest.fixture
def swarm_pool(world, make_nodepool):
    return make_nodepool(
        world.cluster,
        "swarm",
        runtime="swarm",
        manager_url=MANAGER,
        node_labels=["gpu=a10g", "zone=b"],
    )


def _form(**overrides) -> dict:
    data = {
        "slug": "gpu",
        "description": "",
        "instance_type": "g5.xlarge",
        "cpu_cores": "4",
        "memory_bytes": "16Gi",
        "accelerators": "0",
        "accelerator_type": "",
        "price_per_hour": "1.006",
        "min_nodes": "0",
        "max_nodes": "2",
        "runtime": "swarm",
        "manager_url": MANAGER,
        "node_labels": "gpu=a10g, zone=b",
    }
    data.update(overrides)
    return data


def _field_errors(body: str, name: str) -> str:
    """The error list shown beside the field `name` ('' when none)."""
    start = body.find(f'id="id_{name}_error"')
    if start < 0:
        return ""
    return html.unescape(body[start : body.find("</ul>", start)])


def _create_url(world) -> str:
    return reverse("clusters:nodepool_create", args=[world.cluster.slug])


def _edit_url(pool) -> str:
    return reverse("clusters:nodepool_edit", args=[pool.cluster.slug, pool.slug])


# --- the form ----------------------------------------------------------------------------


def test_form_offers_both_runtimes_with_what_they_mean(owner_client, world):
    body = html.unescape(owner_client.get(_create_url(world)).content.decode())
    assert "<legend>Runtime</legend>" in body
    assert 'value="docker"' in body and 'value="swarm"' in body
    assert "Docker engines" in body and "Docker Swarm" in body
    assert "This portal places replicas on the Docker engines you add as nodes." in body
    assert (
        "A Swarm manager schedules the replicas; the swarm's nodes appear here by themselves."
        in body
    )
    assert (
        "A manager's engine URL: unix:///var/run/docker.sock or tcp://host:2376 "
        "(TLS from the DOCKER_TLS_* settings)." in body
    )
    # Docker is chosen for a new nodepool; the swarm fields are in the page (JS may hide them).
    assert 'value="docker" id="id_runtime_0" checked' in body
    assert 'name="manager_url"' in body and 'name="node_labels"' in body
    assert 'data-runtime-only="swarm"' in body


def test_create_a_swarm_nodepool(
    owner_client, world, swarm_check, synced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            _create_url(world), _form(node_labels="gpu=a10g, zone=b  rack=r1,,")
        )
    pool = Nodepool.objects.get(cluster=world.cluster, slug="gpu")
    assert response.status_code == 302 and response["Location"] == pool.get_absolute_url()
    assert (pool.runtime, pool.manager_url) == ("swarm", MANAGER)
    assert pool.node_labels == ["gpu=a10g", "zone=b", "rack=r1"]
    assert swarm_check.calls == [(MANAGER, ["gpu=a10g", "zone=b", "rack=r1"])]
    assert ("sync_swarm_nodes", (pool.pk,)) in synced.calls
    page = owner_client.get(pool.get_absolute_url()).content.decode()
    assert "Its nodes are read from the swarm" in page


def test_manager_refusal_is_shown_beside_manager_url_and_nothing_is_made(
    owner_client, world, swarm_check
):
    swarm_check.problem = swarm_nodes.SwarmProblem(WORKER_REFUSAL, field="manager_url")
    response = owner_client.post(
        _create_url(world), _form(manager_url="unix:///var/run/docker-node2.sock")
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "this engine is a Swarm worker, not a manager" in _field_errors(body, "manager_url")
    assert not Nodepool.objects.filter(slug="gpu").exists()
    # What was typed is shown back.
    assert 'value="unix:///var/run/docker-node2.sock"' in body
    assert 'value="gpu=a10g, zone=b"' in body


def test_label_refusal_is_shown_beside_node_labels(owner_client, world, swarm_check):
    swarm_check.problem = swarm_nodes.SwarmProblem(
        "No node of the swarm has the labels no.such=label; add them with ...",
        field="node_labels",
    )
    body = owner_client.post(_create_url(world), _form(node_labels="no.such=label")).content
    errors = _field_errors(body.decode(), "node_labels")
    assert "No node of the swarm has the labels no.such=label" in errors
    assert _field_errors(body.decode(), "manager_url") == ""
    assert not Nodepool.objects.filter(slug="gpu").exists()


@pytest.mark.parametrize("typed", ["gpu=a10g bad-item", "gpu=a10g,=x", "gpu=a10g key=a=b"])
def test_a_bad_label_item_is_named(owner_client, world, swarm_check, typed):
    bad = typed.replace(",", " ").split()[-1]
    body = owner_client.post(_create_url(world), _form(node_labels=typed)).content.decode()
    errors = _field_errors(body, "node_labels")
    assert f"“{bad}” is not a node label requirement" in errors and "key=value" in errors
    assert html.escape(typed) in body  # shown back as typed
    assert swarm_check.calls == []
    assert not Nodepool.objects.filter(slug="gpu").exists()


def test_more_than_sixteen_labels_are_refused(owner_client, world, swarm_check):
    labels = " ".join(f"k{i}=v" for i in range(17))
    body = owner_client.post(_create_url(world), _form(node_labels=labels)).content.decode()
    assert "At most 16 node labels." in _field_errors(body, "node_labels")
    assert swarm_check.calls == [] and not Nodepool.objects.filter(slug="gpu").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "A swarm nodepool needs its manager's engine URL"),
        ("  ", "A swarm nodepool needs its manager's engine URL"),
        ("tcp://host", "Use a manager's engine URL"),
        ("ssh://me@host", "Use a manager's engine URL"),
        ("tcp://[::1", "Use a manager's engine URL"),
        ("docker.sock", "Use a manager's engine URL"),
    ],
)
def test_swarm_needs_a_manager_url_it_can_use(owner_client, world, swarm_check, url, message):
    body = owner_client.post(_create_url(world), _form(manager_url=url)).content.decode()
    assert message in _field_errors(body, "manager_url")
    assert swarm_check.calls == [] and not Nodepool.objects.filter(slug="gpu").exists()


def test_docker_runtime_needs_no_manager_url(owner_client, world, swarm_check):
    response = owner_client.post(
        _create_url(world), _form(runtime="docker", manager_url="", node_labels="")
    )
    assert response.status_code == 302, _field_errors(response.content.decode(), "manager_url")
    pool = Nodepool.objects.get(slug="gpu")
    assert (pool.runtime, pool.manager_url, pool.node_labels) == ("docker", "", [])
    assert swarm_check.calls == []


def test_docker_runtime_drops_swarm_settings_typed_for_it(owner_client, world, swarm_check):
    # With JavaScript off the swarm fields stay visible: what was typed there is not kept.
    response = owner_client.post(
        _create_url(world), _form(runtime="docker", manager_url="oops", node_labels="bad item")
    )
    assert response.status_code == 302
    pool = Nodepool.objects.get(slug="gpu")
    assert (pool.runtime, pool.manager_url, pool.node_labels) == ("docker", "", [])
    assert swarm_check.calls == []


def test_a_post_without_runtime_makes_a_docker_nodepool(owner_client, world, swarm_check):
    data = _form()
    for name in ("runtime", "manager_url", "node_labels"):
        del data[name]
    assert owner_client.post(_create_url(world), data).status_code == 302
    assert Nodepool.objects.get(slug="gpu").runtime == "docker"
    assert swarm_check.calls == []


def test_unknown_runtime_is_refused(owner_client, world, swarm_check):
    body = owner_client.post(_create_url(world), _form(runtime="kubernetes")).content.decode()
    assert "Select a valid choice" in _field_errors(body, "runtime")
    assert not Nodepool.objects.filter(slug="gpu").exists()


# --- editing -----------------------------------------------------------------------------


def test_edit_form_shows_the_labels_back_as_typed(owner_client, swarm_pool):
    body = owner_client.get(_edit_url(swarm_pool)).content.decode()
    assert 'value="gpu=a10g, zone=b"' in body
    assert f'value="{MANAGER}"' in body
    assert 'value="swarm" id="id_runtime_1" checked' in body


def _edit_data(pool, **overrides) -> dict:
    data = _form(
        slug=pool.slug,
        instance_type=pool.instance_type,
        runtime=pool.runtime,
        manager_url=pool.manager_url,
        node_labels=", ".join(pool.node_labels),
    )
    data.update(overrides)
    return data


def test_editing_other_fields_does_not_ask_the_manager(owner_client, swarm_pool, swarm_check):
    swarm_check.problem = swarm_nodes.SwarmProblem("the manager is down", field="manager_url")
    response = owner_client.post(_edit_url(swarm_pool), _edit_data(swarm_pool, max_nodes="5"))
    assert response.status_code == 302
    swarm_pool.refresh_from_db()
    assert swarm_pool.max_nodes == 5 and swarm_check.calls == []


def test_changing_the_labels_asks_the_manager_again(owner_client, swarm_pool, swarm_check):
    swarm_check.problem = swarm_nodes.SwarmProblem(
        "No node of the swarm has the labels gpu=h100", field="node_labels"
    )
    body = owner_client.post(
        _edit_url(swarm_pool), _edit_data(swarm_pool, node_labels="gpu=h100")
    ).content.decode()
    assert "No node of the swarm has the labels gpu=h100" in _field_errors(body, "node_labels")
    assert swarm_check.calls == [(MANAGER, ["gpu=h100"])]
    swarm_pool.refresh_from_db()
    assert swarm_pool.node_labels == ["gpu=a10g", "zone=b"]


def test_runtime_change_is_refused_when_the_pool_has_nodes(
    owner_client, world, make_node, swarm_check
):
    make_node(world.nodepool, "node-1")
    response = owner_client.post(
        _edit_url(world.nodepool),
        _edit_data(world.nodepool, runtime="swarm", manager_url=MANAGER, node_labels=""),
    )
    assert response.status_code == 200
    errors = _field_errors(response.content.decode(), "runtime")
    assert "The runtime of a nodepool with nodes or deployments cannot change" in errors
    world.nodepool.refresh_from_db()
    assert (world.nodepool.runtime, world.nodepool.manager_url) == ("docker", "")
    assert swarm_check.calls == []


def test_runtime_change_of_an_empty_pool_is_allowed(owner_client, world, swarm_check, synced):
    response = owner_client.post(
        _edit_url(world.nodepool),
        _edit_data(world.nodepool, runtime="swarm", manager_url=MANAGER, node_labels=""),
    )
    assert response.status_code == 302
    world.nodepool.refresh_from_db()
    assert (world.nodepool.runtime, world.nodepool.manager_url) == ("swarm", MANAGER)
    assert swarm_check.calls == [(MANAGER, [])]


# --- the nodepool page -------------------------------------------------------------------


def test_swarm_nodepool_page(owner_client, swarm_pool, make_node):
    make_node(
        swarm_pool,
        "worker-a",
        engine_url="unix:///var/run/docker-node2.sock",
        swarm_node_id="abc123",
        availability="drain",
        status="ready",
    )
    make_node(swarm_pool, "manager-a", swarm_node_id="def456", availability="active")
    body = owner_client.get(swarm_pool.get_absolute_url()).content.decode()
    text = html.unescape(body)
    assert "<dt>Runtime</dt>" in body
    assert f"Docker Swarm, manager <code>{MANAGER}</code>" in body
    assert "node labels <code>gpu=a10g</code>, <code>zone=b</code>" in body
    assert "<th>Availability</th>" in body
    assert '<td class="node-availability">drain</td>' in body
    assert '<td class="node-availability">active</td>' in body
    assert (
        "Nodes come from the swarm: join an engine with docker swarm join and label it to "
        "add one." in text
    )
    assert "Add a node" not in body and "Add node" not in body
    assert reverse("clusters:node_add", args=[swarm_pool.cluster.slug, swarm_pool.slug]) not in body
    assert "Remove node" not in body and "/nodes/" not in body


def test_swarm_nodepool_page_without_nodes_or_labels(owner_client, world, make_nodepool):
    pool = make_nodepool(world.cluster, "bare", runtime="swarm", manager_url=MANAGER)
    body = html.unescape(owner_client.get(pool.get_absolute_url()).content.decode())
    assert "no node labels" in body and "any node of the swarm" in body
    assert "No node of the swarm has been read yet" in body
    assert "Add one below by its Docker engine URL" not in body


def test_docker_nodepool_page_is_as_before(owner_client, world, make_node):
    make_node(world.nodepool, "node-1")
    body = owner_client.get(world.nodepool.get_absolute_url()).content.decode()
    assert "Availability" not in body and "<dt>Runtime</dt>" not in body
    assert "Nodes come from the swarm" not in body
    assert "Add a node" in body and "Remove node node-1" in body


def test_add_node_is_refused_on_a_swarm_nodepool(owner_client, swarm_pool, queued):
    url = reverse("clusters:node_add", args=[swarm_pool.cluster.slug, swarm_pool.slug])
    data = {
        "name": "node-9",
        "engine_url": "tcp://10.0.0.9:2376",
        "cpu_capacity": "2",
        "memory_capacity_bytes": "8Gi",
        "accelerators": "0",
    }
    response = owner_client.post(url, data, follow=True)
    assert response.redirect_chain[-1][0] == f"{swarm_pool.get_absolute_url()}#nodes"
    text = html.unescape(response.content.decode())
    assert "No node was added. Nodes come from the swarm" in text
    assert not Node.objects.filter(nodepool=swarm_pool).exists()
    assert queued.calls == []


def test_remove_node_is_refused_on_a_swarm_nodepool(owner_client, swarm_pool, make_node):
    node = make_node(swarm_pool, "worker-a", swarm_node_id="abc123", availability="active")
    url = reverse("clusters:node_delete", args=[swarm_pool.cluster.slug, swarm_pool.slug, node.pk])
    response = owner_client.post(url, follow=True)
    assert "A swarm nodepool&#x27;s nodes are the swarm&#x27;s" in response.content.decode()
    assert Node.objects.filter(pk=node.pk).exists()


# --- who may see what --------------------------------------------------------------------


def test_another_user_gets_404_on_a_swarm_nodepool(
    other_client, swarm_pool, make_node, swarm_check
):
    node = make_node(swarm_pool, "worker-a", swarm_node_id="abc123", availability="active")
    c, np = swarm_pool.cluster.slug, swarm_pool.slug
    for url in (
        reverse("clusters:nodepool", args=[c, np]),
        reverse("clusters:nodepool_edit", args=[c, np]),
    ):
        assert other_client.get(url).status_code == 404, url
    assert other_client.post(_edit_url(swarm_pool), _edit_data(swarm_pool)).status_code == 404
    assert other_client.post(reverse("clusters:node_add", args=[c, np]), {}).status_code == 404
    delete = reverse("clusters:node_delete", args=[c, np, node.pk])
    assert other_client.post(delete).status_code == 404
    # Nor can they make a nodepool in the owner's cluster.
    assert (
        other_client.post(reverse("clusters:nodepool_create", args=[c]), _form()).status_code == 404
    )
    assert swarm_check.calls == []
    assert Nodepool.objects.filter(slug="gpu").count() == 0


def test_a_visitor_is_sent_to_login(visitor_client, swarm_pool, swarm_check):
    c, np = swarm_pool.cluster.slug, swarm_pool.slug
    for method, url in (
        ("get", reverse("clusters:nodepool", args=[c, np])),
        ("get", reverse("clusters:nodepool_edit", args=[c, np])),
        ("post", reverse("clusters:nodepool_edit", args=[c, np])),
        ("post", reverse("clusters:nodepool_create", args=[c])),
        ("post", reverse("clusters:node_add", args=[c, np])),
    ):
        response = getattr(visitor_client, method)(url, _form())
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert swarm_check.calls == []
    assert not Nodepool.objects.filter(slug="gpu").exists()
