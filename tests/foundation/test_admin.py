"""Every admin page answers for a superuser, with its filters and search."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from orchestration.accounts.models import AccessToken
from orchestration.deployments.models import DeploymentEvent, Replica, ScalingDecision


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def populated(team, owner, make_cluster, make_nodepool, make_node, make_model, make_deployment):
    pool = make_nodepool(make_cluster(owner))
    node = make_node(pool)
    model, version = make_model(owner)
    dep = make_deployment(owner, model, version, pool)
    Replica.objects.create(deployment=dep, model_version=version, node=node, state="ready")
    dep.record("created", "made in a test", actor=owner)
    from django.utils import timezone

    ScalingDecision.objects.create(
        deployment=dep, at=timezone.now(), wanted=1, applied=1, reason="hold"
    )
    AccessToken.issue(owner, "ci")
    return dep


def _registered():
    return [m for m in admin.site._registry if m._meta.app_label not in ("auth",)]


def test_every_model_is_registered():
    labels = {m._meta.label for m in admin.site._registry}
    for label in [
        "clusters.Cluster",
        "nodepools.Nodepool",
        "nodepools.Node",
        "catalog.Model",
        "catalog.ModelVersion",
        "deployments.Deployment",
        "deployments.Replica",
        "deployments.DeploymentEvent",
        "deployments.ScalingDecision",
        "accounts.AccessToken",
        "accounts.Organization",
        "accounts.Event",
    ]:
        assert label in labels


def test_changelists_and_change_pages(admin_client, populated):
    for model in _registered():
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client.get(url, {"q": "a"})
        assert response.status_code == 200, url
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert admin_client.get(change).status_code == 200, change


def test_deployment_admin_shows_replicas_and_events_inline(admin_client, populated):
    url = reverse("admin:deployments_deployment_change", args=[populated.pk])
    body = admin_client.get(url).content.decode()
    assert "Replicas" in body
    assert DeploymentEvent.objects.get().message in body


def test_admin_needs_staff(owner_client, visitor_client):
    url = reverse("admin:deployments_deployment_changelist")
    assert owner_client.get(url).status_code == 302
    assert visitor_client.get(url).status_code == 302


def test_organization_admin_lists_members_and_events_read_only(admin_client, team):
    url = reverse("admin:accounts_organization_change", args=[team.organization.pk])
    body = admin_client.get(url).content.decode()
    assert "team-viewer" in body and "Acme ML" in body
    events = admin_client.get(reverse("admin:accounts_event_changelist")).content.decode()
    assert "added a member" in events
    assert admin_client.get(reverse("admin:accounts_event_add")).status_code == 403
