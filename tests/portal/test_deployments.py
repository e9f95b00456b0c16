"""The deploy form, a deployment's page, edit and delete; the deployments list; the dashboard."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from orchestration.accounts.access import personal_space
from orchestration.catalog.models import BuildStatus
from orchestration.deployments import views
from orchestration.deployments.forms import DeploymentCreateForm
from orchestration.deployments.models import (
    AUTOSCALE_DEFAULTS,
    Deployment,
    DeploymentEvent,
    DeploymentStatus,
    ReplicaState,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
CREATE = "/deployments/new/"
ALREADY = "This model already has a deployment on this nodepool."


def _post(world, **overrides) -> dict:
    data = {
        "slug": "sent-east",
        "description": "Sentiment on east",
        "model": world.model.slug,
        "model_version": world.version.version_id,
        "cluster": world.cluster.slug,
        "nodepool": world.nodepool.slug,
        **{name: str(value) for name, value in AUTOSCALE_DEFAULTS.items()},
    }
    data.update(overrides)
    return data


# -- the form, as a page ------------------------------------------------------------------


def test_visitor_is_sent_to_login(visitor_client, owner, world, make_deployment):
    make_deployment(owner, world.model, world.version, world.nodepool, "dep")
    for url in [
        reverse("deployments:list"),
        reverse("deployments:create"),
        reverse("deployments:detail", args=["dep"]),
        reverse("deployments:edit", args=["dep"]),
        reverse("deployments:delete", args=["dep"]),
    ]:
        response = visitor_client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert visitor_client.post(CREATE, _post(world)).status_code == 302
    assert Deployment.objects.count() == 1


def test_deploy_form_texts_and_labels(owner_client, world):
    response = owner_client.get(
        CREATE, {"cluster": "east", "nodepool": "cpu", "model": "sentiment"}
    )
    body = response.content.decode()
    for legend in (
        "Deployment details",
        "Model and version",
        "Cluster",
        "Nodepool",
        "Model replicas",
    ):
        assert f"<legend>{legend}</legend>" in body, legend
    for field_id, label in [
        ("id_slug", "Deployment ID"),
        ("id_description", "Description"),
        ("id_model", "Model"),
        ("id_model_version", "Version"),
        ("id_cluster", "Cluster"),
        ("id_nodepool", "Nodepool"),
        ("id_min_replicas", "Minimum replicas"),
        ("id_max_replicas", "Maximum replicas"),
        ("id_scale_down_delay_seconds", "Scale down delay"),
        ("id_traffic_history_seconds", "Scaling timeframe"),
        ("id_scale_up_delay_seconds", "Scale up delay"),
        ("id_scale_to_zero_delay_seconds", "Scale to zero delay"),
        ("id_target_concurrency", "Target concurrency"),
    ]:
        assert f'<label for="{field_id}">{label}</label>' in body, label
        assert f'id="{field_id}"' in body, field_id
    assert '<details class="advanced card">' in body  # collapsed until opened
    assert "<summary>Advanced settings</summary>" in body
    assert '<button class="btn primary" type="submit">Deploy model</button>' in body
    # Defaults, and help that says what each does and that replicas cost.
    assert 'name="min_replicas" value="1"' in body
    assert 'name="max_replicas" value="5"' in body
    assert 'name="scale_down_delay_seconds" value="300"' in body
    assert "Seconds (default 300)" in body
    assert "cost more" in body
    # The choices from the query string, and their details beside them.
    assert '<option value="sentiment" selected>' in body
    assert f'<option value="{world.version.version_id}" selected>v1 · ready</option>' in body
    assert '<option value="east" selected>' in body
    assert '<option value="cpu" selected>cpu · t3.large</option>' in body
    assert "us-east-1" in body and "AWS" in body
    assert "$0.0832" in body and "8Gi memory" in body
    assert "nothing of yours yet" in body


def test_deploy_form_offers_only_what_the_user_may_use(
    owner_client, other_user, world, make_cluster, make_model, shared_nodepool
):
    make_cluster(other_user, "theirs")
    make_model(other_user, "their-model")
    body = owner_client.get(CREATE).content.decode()
    assert "theirs" not in body and "their-model" not in body
    assert '<option value="shared">' in body
    assert '<option value="east">' in body


def test_model_choice_loads_its_versions_with_htmx(owner_client, owner, world, make_model):
    make_model(owner, "sentiment", status=BuildStatus.FAILED)
    _, other_version = make_model(owner, "iris")
    response = owner_client.get(
        CREATE,
        {"model": "sentiment", "model_version": other_version.version_id},
        HTTP_HX_TARGET="model-section",
        **HTMX,
    )
    body = response.content.decode()
    assert "<html" not in body and 'id="model-section"' in body
    assert "v2 · failed" in body
    # The version of the previous model is dropped; the newest ready one is chosen.
    assert f'<option value="{world.version.version_id}" selected>v1 · ready</option>' in body
    assert other_version.version_id not in body
    assert 'hx-get="/deployments/new/"' in body and 'hx-target="#model-section"' in body


def test_cluster_choice_loads_its_nodepools_with_htmx(
    owner_client, owner, world, make_nodepool, make_deployment
):
    make_nodepool(world.cluster, "gpu", instance_type="g5.xlarge")
    make_deployment(owner, world.model, world.version, world.nodepool, "already")
    response = owner_client.get(
        CREATE, {"cluster": "east", "nodepool": "cpu"}, HTTP_HX_TARGET="compute-section", **HTMX
    )
    body = response.content.decode()
    assert "<html" not in body and 'id="compute-section"' in body
    assert '<option value="cpu" selected>cpu · t3.large</option>' in body
    assert '<option value="gpu">gpu · g5.xlarge</option>' in body
    assert "already" in body  # what already runs on the chosen nodepool


def test_cluster_without_nodepools_links_to_create_one(owner_client, owner, make_cluster):
    make_cluster(owner, "bare")
    body = owner_client.get(CREATE, {"cluster": "bare"}).content.decode()
    assert "Cluster bare has no nodepools yet." in body
    assert reverse("clusters:nodepool_create", args=["bare"]) + "?deploy=1" in body


def test_no_models_says_upload_first(owner_client, owner):
    body = owner_client.get(CREATE).content.decode()
    assert "You have no models yet." in body
    assert reverse("models:upload") in body


def test_no_javascript_refresh_rerenders_with_the_model_chosen(owner_client, world):
    response = owner_client.post(CREATE, {"model": "sentiment", "slug": "x", "_refresh": "1"})
    body = response.content.decode()
    assert response.status_code == 200
    assert f'<option value="{world.version.version_id}" selected>' in body
    assert 'value="x"' in body
    assert "errorlist" not in body
    assert Deployment.objects.count() == 0


# -- the form, posted ---------------------------------------------------------------------


def test_deploy_creates_queues_and_lands_on_the_nodepool(
    owner_client, owner, world, queued, django_capture_on_commit_callbacks
):
    data = _post(
        world,
        min_replicas="2",
        max_replicas="4",
        scale_down_delay_seconds="60",
        traffic_history_seconds="120",
        scale_up_delay_seconds="30",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(CREATE, data, follow=True)
    deployment = Deployment.objects.get(owner=owner, slug="sent-east")
    assert response.redirect_chain == [(world.nodepool.get_absolute_url(), 302)]
    assert (deployment.min_replicas, deployment.max_replicas) == (2, 4)
    assert deployment.desired_replicas == 2
    assert (deployment.scale_down_delay_seconds, deployment.scale_up_delay_seconds) == (60, 30)
    assert deployment.traffic_history_seconds == 120
    assert deployment.description == "Sentiment on east"
    assert deployment.model_version == world.version
    assert queued.calls == [("reconcile_deployment", (deployment.pk,))]
    event = deployment.events.get()
    assert event.kind == "created" and event.actor == owner
    body = response.content.decode()
    assert "Deploying sentiment as sent-east" in body
    assert 'href="/deployments/sent-east/"' in body and "sentiment" in body


def test_deploy_onto_the_shared_nodepool(owner_client, owner, world, shared_nodepool):
    data = _post(world, cluster="shared", nodepool="shared", slug="on-shared")
    response = owner_client.post(CREATE, data)
    assert response.status_code == 302
    assert Deployment.objects.get(slug="on-shared").nodepool == shared_nodepool


def _assert_refused(response, field_id: str, message: str) -> str:
    body = response.content.decode()
    assert response.status_code == 200
    assert message in body, body[body.find("errorlist") - 500 : body.find("errorlist") + 500]
    # The message sits in the field's own block, right after its input.
    block = body[body.index(f'id="{field_id}"') :]
    assert block.index(message) < block.index('<div class="field')
    assert Deployment.objects.count() == 0 or "already" in message.lower()
    return body


@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        ({"slug": "Sent East"}, "id_slug", "Use 1-64 lowercase letters"),
        ({"slug": "new"}, "id_slug", "is reserved"),
        (
            {"min_replicas": "6", "max_replicas": "5"},
            "id_min_replicas",
            "Minimum replicas cannot be more than maximum replicas.",
        ),
        (
            {"max_replicas": "0", "min_replicas": "0"},
            "id_max_replicas",
            "Maximum replicas must be at least 1.",
        ),
        ({"min_replicas": "-1"}, "id_min_replicas", "Minimum replicas cannot be negative."),
        (
            {"scale_down_delay_seconds": "-5"},
            "id_scale_down_delay_seconds",
            "Delays cannot be negative; use 0 for no delay.",
        ),
        (
            {"scale_up_delay_seconds": "-1"},
            "id_scale_up_delay_seconds",
            "Delays cannot be negative",
        ),
        (
            {"traffic_history_seconds": "soon"},
            "id_traffic_history_seconds",
            "Enter a whole number.",
        ),
        (
            {"scale_to_zero_delay_seconds": "10"},
            "id_scale_to_zero_delay_seconds",
            "Scale to zero delay must be at least the scale down delay.",
        ),
        ({"model": ""}, "id_model", "This field is required."),
        ({"nodepool": "nope"}, "id_nodepool", "Select a valid choice."),
    ],
)
def test_deploy_bad_input(owner_client, world, queued, overrides, field_id, message):
    response = owner_client.post(CREATE, _post(world, **overrides))
    body = _assert_refused(response, field_id, message)
    if "replicas" in field_id or "seconds" in field_id:
        assert '<details class="advanced card" open>' in body  # errors are not hidden
    assert queued.calls == []


def test_deploy_with_taken_id(owner_client, owner, world, make_nodepool, make_deployment):
    other_pool = make_nodepool(world.cluster, "gpu")
    make_deployment(owner, world.model, world.version, other_pool, "sent-east")
    response = owner_client.post(CREATE, _post(world))
    _assert_refused(response, "id_slug", "You already have a deployment with this ID.")
    assert Deployment.objects.count() == 1


def test_model_already_deployed_on_nodepool_links_to_it(
    owner_client, owner, world, make_deployment
):
    make_deployment(owner, world.model, world.version, world.nodepool, "first")
    response = owner_client.post(CREATE, _post(world, slug="second"))
    body = _assert_refused(response, "id_nodepool", ALREADY)
    assert f'{ALREADY} <a href="/deployments/first/">Open deployment first</a>' in body
    assert not Deployment.objects.filter(slug="second").exists()


def test_forged_foreign_nodepool_is_refused(
    owner_client, owner, other_user, world, make_cluster, make_nodepool, queued
):
    theirs = make_nodepool(make_cluster(other_user, "theirs"), "secret")
    response = owner_client.post(CREATE, _post(world, cluster="theirs", nodepool=theirs.slug))
    _assert_refused(response, "id_cluster", "Select a valid choice.")
    assert "Select a valid choice" in response.content.decode().split('id="id_nodepool"')[1]
    # Their nodepool's id under my cluster names nothing of theirs either.
    response = owner_client.post(CREATE, _post(world, nodepool="secret"))
    _assert_refused(response, "id_nodepool", "Select a valid choice.")
    assert Deployment.objects.count() == 0
    assert queued.calls == []


def test_forged_foreign_model_and_version_are_refused(owner_client, other_user, world, make_model):
    theirs, their_version = make_model(other_user, "their-model")
    response = owner_client.post(CREATE, _post(world, model="their-model"))
    _assert_refused(response, "id_model", "Select a valid choice.")
    response = owner_client.post(CREATE, _post(world, model_version=their_version.version_id))
    _assert_refused(response, "id_model_version", "Select a valid choice.")
    assert Deployment.objects.count() == 0


def test_failed_version_is_refused(owner_client, owner, world, make_model):
    _, failed = make_model(owner, "sentiment", status=BuildStatus.FAILED)
    response = owner_client.post(CREATE, _post(world, model_version=failed.version_id))
    _assert_refused(response, "id_model_version", "Version v2 failed to build")


def test_race_on_the_unique_constraint_shows_the_same_message(
    owner, world, make_deployment, monkeypatch
):
    form = DeploymentCreateForm(_post(world, slug="late"), user=owner)
    assert form.is_valid()
    # Another request wins between our checks and our insert; full_clean() is past too.
    make_deployment(owner, world.model, world.version, world.nodepool, "early")
    monkeypatch.setattr(Deployment, "full_clean", lambda self, **kw: None)
    request = RequestFactory().post(CREATE)
    request.user = owner
    request.space = personal_space(owner)
    assert views._create(request, form) is None
    assert ALREADY in str(form.errors["nodepool"])
    assert 'href="/deployments/early/"' in str(form.errors["nodepool"])
    assert not Deployment.objects.filter(slug="late").exists()
    assert not DeploymentEvent.objects.exists()


# -- list, page, edit, delete -------------------------------------------------------------


@pytest.fixture
def deployment(owner, world, make_deployment):
    return make_deployment(owner, world.model, world.version, world.nodepool, "dep")


def test_other_user_gets_404(other_client, deployment):
    for name in ("detail", "edit", "delete"):
        assert other_client.get(reverse(f"deployments:{name}", args=["dep"])).status_code == 404
    assert other_client.post(reverse("deployments:delete", args=["dep"])).status_code == 404
    assert other_client.post(reverse("deployments:edit", args=["dep"]), {}).status_code == 404
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.PENDING
    assert "/deployments/dep/" not in other_client.get(reverse("deployments:list")).content.decode()


def test_list(owner_client, deployment):
    body = owner_client.get(reverse("deployments:list")).content.decode()
    assert 'href="/deployments/dep/"' in body and "Pending" in body
    assert "Deploy a model" in body


def test_list_empty_state(owner_client, world):
    body = owner_client.get(reverse("deployments:list")).content.decode()
    assert "No deployments yet." in body


def test_page_polls_while_replicas_move(owner_client, owner, deployment, make_node, world):
    node = make_node(world.nodepool)
    deployment.status = DeploymentStatus.DEPLOYING
    deployment.status_message = "Starting 1 replica"
    deployment.save()
    deployment.replicas.create(
        model_version=world.version,
        node=node,
        state=ReplicaState.STARTING,
        address="127.0.0.1:9100",
        last_error="pull failed once",
    )
    deployment.record("created", "Deployed sentiment", actor=owner)
    deployment.record("scaled", "Reconcile started a replica", source="reconcile")
    body = owner_client.get(deployment.get_absolute_url()).content.decode()
    assert 'id="live" hx-get="/deployments/dep/" hx-trigger="every 2s"' in body
    assert "Starting 1 replica" in body
    assert "127.0.0.1:9100" in body and "node-1" in body and "pull failed once" in body
    assert body.index("Reconcile started a replica") < body.index("Deployed sentiment")
    assert 'id="charts"' in body
    assert "Edit" in body and "Delete" in body
    for setting in ("Model replicas", "Scale down delay", "Scaling timeframe", "Scale up delay"):
        assert setting in body
    fragment = owner_client.get(deployment.get_absolute_url(), HTTP_HX_TARGET="live", **HTMX)
    text = fragment.content.decode()
    assert "<html" not in text and 'hx-trigger="every 2s"' in text


def test_page_stops_polling_when_settled(owner_client, deployment, world, make_node):
    node = make_node(world.nodepool)
    deployment.status = DeploymentStatus.RUNNING
    deployment.save()
    deployment.replicas.create(model_version=world.version, node=node, state=ReplicaState.READY)
    fragment = owner_client.get(deployment.get_absolute_url(), HTTP_HX_TARGET="live", **HTMX)
    text = fragment.content.decode()
    assert 'id="live"' in text and "hx-trigger" not in text
    assert "1 of 1 replica ready" in text


def test_poll_after_deletion_leaves_the_page(owner_client, deployment):
    url = deployment.get_absolute_url()
    deployment.delete()
    response = owner_client.get(url, HTTP_HX_TARGET="live", **HTMX)
    assert response["HX-Redirect"] == reverse("deployments:list")
    assert owner_client.get(url).status_code == 404


def test_edit_settings(
    owner_client, owner, deployment, world, make_model, queued, django_capture_on_commit_callbacks
):
    _, v2 = make_model(owner, "sentiment")
    url = reverse("deployments:edit", args=["dep"])
    body = owner_client.get(url).content.decode()
    assert '<label for="id_min_replicas">Minimum replicas</label>' in body
    data = {
        "description": "edited",
        "model_version": v2.version_id,
        **{name: str(value) for name, value in AUTOSCALE_DEFAULTS.items()},
        "min_replicas": "2",
        "max_replicas": "3",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, data)
    assert response["Location"] == deployment.get_absolute_url()
    deployment.refresh_from_db()
    assert (deployment.min_replicas, deployment.max_replicas) == (2, 3)
    assert deployment.desired_replicas == 2  # pulled up into the new bounds
    assert deployment.model_version == v2 and deployment.description == "edited"
    event = deployment.events.get(kind="updated")
    assert "minimum replicas 1 → 2" in event.message and "v1 → v2" in event.message
    assert queued.calls == [("reconcile_deployment", (deployment.pk,))]


def test_edit_bad_input(owner_client, deployment, queued):
    data = {
        "description": "",
        "model_version": deployment.model_version.version_id,
        **{name: str(value) for name, value in AUTOSCALE_DEFAULTS.items()},
        "min_replicas": "9",
    }
    response = owner_client.post(reverse("deployments:edit", args=["dep"]), data)
    assert "Minimum replicas cannot be more than maximum replicas." in response.content.decode()
    deployment.refresh_from_db()
    assert deployment.min_replicas == 1
    assert not deployment.events.exists() and queued.calls == []


def test_edit_while_deleting_is_refused(owner_client, deployment):
    deployment.status = DeploymentStatus.DELETING
    deployment.save()
    response = owner_client.get(reverse("deployments:edit", args=["dep"]))
    assert response["Location"] == deployment.get_absolute_url()


def test_delete_asks_then_requests_deletion(
    owner_client, owner, deployment, queued, django_capture_on_commit_callbacks
):
    url = reverse("deployments:delete", args=["dep"])
    assert "Delete deployment" in owner_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("deployments:list"), 302)]
    assert "Deleting deployment dep" in response.content.decode()
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.DELETING
    assert deployment.events.get(kind="deleting").actor == owner
    assert queued.calls == [("delete_deployment", (deployment.pk,))]


def test_dashboard(owner_client, deployment):
    body = owner_client.get(reverse("home")).content.decode()
    assert "Dashboard" in body and 'href="/deployments/dep/"' in body
