"""Deployments and replicas through the API."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from orchestration.deployments.models import AUTOSCALE_DEFAULTS, Deployment, Replica
from tests.api.support import deployment_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(compute, ready_model):
    return compute, ready_model


def test_create_with_defaults(
    owner_api, owner, setup, queued_tasks, django_capture_on_commit_callbacks
):
    body = deployment_body()
    del body["autoscale_config"]
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post("deployments/", body)
    assert response.status_code == 201, response.content
    out = response.json()
    _, model = setup
    assert out["id"] == "sent-prod"
    assert out["model_id"] == "sentiment"
    assert out["model_version_id"] == model.version.version_id
    assert (out["cluster_id"], out["nodepool_id"]) == ("east", "cpu")
    assert out["autoscale_config"] == AUTOSCALE_DEFAULTS
    assert out["desired_replicas"] == AUTOSCALE_DEFAULTS["min_replicas"]
    assert out["status"] == "pending" and out["replicas"] == [] and out["ready_replicas"] == 0
    deployment = Deployment.objects.get(slug="sent-prod")
    assert deployment.owner == owner
    event = deployment.events.get()
    assert event.kind == "created" and event.actor == owner
    assert queued_tasks == [("reconcile_deployment", (deployment.pk,))]


def test_create_with_full_autoscale_config(owner_api, setup):
    config = {
        "min_replicas": 0,
        "max_replicas": 7,
        "scale_down_delay_seconds": 60,
        "traffic_history_seconds": 120,
        "scale_up_delay_seconds": 30,
        "scale_to_zero_delay_seconds": 600,
        "target_concurrency": 8,
    }
    out = owner_api.post("deployments/", deployment_body(autoscale_config=config)).json()
    assert out["autoscale_config"] == config
    assert out["desired_replicas"] == 0
    deployment = Deployment.objects.get(slug="sent-prod")
    assert deployment.autoscale_config() == config


def test_default_version_is_latest_ready(owner_api, owner, setup, make_model):
    _, ready = setup
    _, v2 = make_model(owner, "sentiment")  # ready too: the newest ready one wins
    make_model(owner, "sentiment", status="building")  # v3 still building
    out = owner_api.post("deployments/", deployment_body()).json()
    assert out["model_version_id"] == v2.version_id and out["model_version_number"] == 2


def test_version_by_number_or_id(owner_api, setup):
    _, ready = setup
    out = owner_api.post("deployments/", deployment_body(model_version_id="1")).json()
    assert out["model_version_id"] == ready.version.version_id


def test_no_ready_version_is_400(owner_api, owner, compute, make_model):
    make_model(owner, "sentiment", status="building")
    response = owner_api.post("deployments/", deployment_body())
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "model_version_id" and "no ready version" in error["message"]


def test_version_not_ready_is_400(owner_api, owner, setup, make_model):
    _, failed = make_model(owner, "sentiment", status="failed")
    response = owner_api.post("deployments/", deployment_body(model_version_id=failed.version_id))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "model_version_id"
    assert "failed" in response.json()["detail"]


def test_unknown_version_is_404(owner_api, setup):
    response = owner_api.post("deployments/", deployment_body(model_version_id="abcdef123456"))
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "model_version_id"


@pytest.mark.parametrize(
    ("field", "value"),
    [("model_id", "nope"), ("cluster_id", "nope"), ("nodepool_id", "nope")],
)
def test_unknown_references_are_404(owner_api, setup, field, value):
    response = owner_api.post("deployments/", deployment_body(**{field: value}))
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        ({"min_replicas": 4, "max_replicas": 2}, "autoscale_config.max_replicas", "at least"),
        ({"max_replicas": 0}, "autoscale_config.max_replicas", "greater than or equal to 1"),
        ({"min_replicas": -1}, "autoscale_config.min_replicas", "greater than or equal to 0"),
        ({"min_replicas": 6}, "autoscale_config.max_replicas", "minimum replicas (6)"),
        (
            {"scale_down_delay_seconds": 900, "scale_to_zero_delay_seconds": 60},
            "autoscale_config.scale_to_zero_delay_seconds",
            "at least the scale down delay",
        ),
        ({"target_concurrency": 0}, "autoscale_config.target_concurrency", "greater than"),
        ({"traffic_history_seconds": "soon"}, "autoscale_config.traffic_history_seconds", ""),
        ({"scale_up_delay_seconds": 2**40}, "autoscale_config.scale_up_delay_seconds", ""),
        ({"max_replica": 3}, "autoscale_config.max_replica", "Extra inputs"),
    ],
)
def test_autoscale_validation(owner_api, setup, config, field, fragment):
    response = owner_api.post("deployments/", deployment_body(autoscale_config=config))
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert errors[0]["field"] == field
    assert fragment in errors[0]["message"]
    assert not Deployment.objects.exists()


def test_autoscale_config_must_be_an_object(owner_api, setup):
    response = owner_api.post("deployments/", deployment_body(autoscale_config=[1, 2]))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "autoscale_config"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (deployment_body(id="Not OK"), "id"),
        ({"id": "x"}, "model_id"),
        (deployment_body(description=7), "description"),
    ],
)
def test_deployment_body_validation(owner_api, setup, body, field):
    response = owner_api.post("deployments/", body)
    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]


def test_second_deployment_of_model_on_nodepool_is_409(owner_api, setup):
    assert owner_api.post("deployments/", deployment_body()).status_code == 201
    response = owner_api.post("deployments/", deployment_body(id="another"))
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {"field": "nodepool_id", "message": "This model already has a deployment on this nodepool."}
    ]


def test_duplicate_deployment_id_is_409(owner_api, owner, setup, make_nodepool):
    compute, _ = setup
    make_nodepool(compute.cluster, "gpu")
    assert owner_api.post("deployments/", deployment_body()).status_code == 201
    response = owner_api.post("deployments/", deployment_body(nodepool_id="gpu"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "id"


def test_race_on_save_is_409(owner_api, owner, setup, monkeypatch, make_deployment):
    """Two requests pass validation together; the database constraint decides: 409."""
    compute, ready = setup
    import orchestration.deployments.actions as module

    monkeypatch.setattr(module, "validate_instance", lambda *a, **k: None)
    make_deployment(owner, ready.model, ready.version, compute.nodepool, "first")
    response = owner_api.post("deployments/", deployment_body())
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "nodepool_id"


def test_unexpected_integrity_error_is_409(owner_api, setup, monkeypatch):
    def boom(self, *args, **kwargs):
        raise IntegrityError("something")

    monkeypatch.setattr(Deployment, "save", boom)
    response = owner_api.post("deployments/", deployment_body())
    assert response.status_code == 409


def test_deploy_on_shared_nodepool(owner_api, ready_model):
    from orchestration.nodepools.shared import ensure_shared_compute

    ensure_shared_compute()
    body = deployment_body(cluster_id="shared", nodepool_id="shared")
    response = owner_api.post("deployments/", body)
    assert response.status_code == 201, response.content


@pytest.fixture
def deployed(owner_api, setup, django_capture_on_commit_callbacks):
    response = owner_api.post("deployments/", deployment_body())
    assert response.status_code == 201
    return Deployment.objects.get(slug="sent-prod")


def test_patch_merges_autoscale_config(
    owner_api, deployed, queued_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.patch(
            "deployments/sent-prod/",
            {"description": "new", "autoscale_config": {"min_replicas": 2, "max_replicas": 4}},
        )
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["description"] == "new"
    assert out["autoscale_config"]["min_replicas"] == 2
    assert out["autoscale_config"]["max_replicas"] == 4
    assert out["autoscale_config"]["target_concurrency"] == 4  # kept
    assert out["desired_replicas"] == 2  # raised to the new minimum
    event = deployed.events.order_by("-id").first()
    assert event.kind == "updated" and "max_replicas 3 -> 4" in event.message
    assert queued_tasks == [("reconcile_deployment", (deployed.pk,))]


def test_patch_lowers_desired_to_new_max(owner_api, deployed):
    Deployment.objects.filter(pk=deployed.pk).update(desired_replicas=3)
    out = owner_api.put("deployments/sent-prod/", {"autoscale_config": {"max_replicas": 2}}).json()
    assert out["desired_replicas"] == 2


def test_patch_validates_merged_config(owner_api, deployed):
    response = owner_api.patch("deployments/sent-prod/", {"autoscale_config": {"min_replicas": 9}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "autoscale_config.max_replicas"
    deployed.refresh_from_db()
    assert deployed.min_replicas == 1


def test_patch_version(owner_api, owner, deployed, make_model):
    _, v2 = make_model(owner, "sentiment")
    out = owner_api.patch("deployments/sent-prod/", {"model_version_id": v2.version_id}).json()
    assert out["model_version_id"] == v2.version_id
    assert "version v1 -> v2" in deployed.events.order_by("-id").first().message


def test_patch_cannot_move_deployment(owner_api, deployed):
    response = owner_api.patch("deployments/sent-prod/", {"nodepool_id": "gpu"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "nodepool_id"


def test_noop_patch_records_nothing(owner_api, deployed, queued_tasks):
    before = deployed.events.count()
    assert owner_api.patch("deployments/sent-prod/", {}).status_code == 200
    assert deployed.events.count() == before


def test_delete_is_accepted(
    owner_api, owner, deployed, queued_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.delete("deployments/sent-prod/")
    assert response.status_code == 202
    assert response.json()["status"] == "deleting"
    assert queued_tasks == [("delete_deployment", (deployed.pk,))]
    assert deployed.events.order_by("-id").first().actor == owner
    # Again: still accepted, nothing queued twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.delete("deployments/sent-prod/").status_code == 202
    assert len(queued_tasks) == 1
    # A deployment being deleted is not updated any more.
    response = owner_api.patch("deployments/sent-prod/", {"description": "x"})
    assert response.status_code == 409


def test_replicas_in_responses(owner_api, deployed, compute, ready_model):
    from django.utils import timezone

    now = timezone.now()
    ready = Replica.objects.create(
        deployment=deployed,
        model_version=ready_model.version,
        node=compute.node,
        state="ready",
        address="127.0.0.1:40001",
        started_at=now,
        ready_at=now,
    )
    Replica.objects.create(
        deployment=deployed, model_version=ready_model.version, state="failed", last_error="OOM"
    )
    Replica.objects.create(deployment=deployed, model_version=ready_model.version, state="stopped")
    out = owner_api.get("deployments/sent-prod/").json()
    assert out["ready_replicas"] == 1
    assert [r["state"] for r in out["replicas"]] == ["ready", "failed"]
    first = out["replicas"][0]
    assert first["id"] == ready.pk and first["node"] == "node-1"
    assert first["address"] == "127.0.0.1:40001" and first["started_at"]
    assert out["replicas"][1]["last_error"] == "OOM" and out["replicas"][1]["node"] is None

    listed = owner_api.items("deployments/sent-prod/replicas/")
    assert [r["state"] for r in listed] == ["ready", "failed"]
    assert len(owner_api.items("deployments/sent-prod/replicas/?all=true")) == 3
    assert [r["id"] for r in owner_api.items("deployments/sent-prod/replicas/?state=ready")] == [
        ready.pk
    ]
    response = owner_api.get("deployments/sent-prod/replicas/?state=bogus")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "state"


def test_replicas_are_read_only(owner_api, deployed):
    response = owner_api.post("deployments/sent-prod/replicas/", {})
    assert response.status_code == 405
    assert response.json()["errors"]
    assert "GET" in response["Allow"]
