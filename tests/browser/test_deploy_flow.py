"""The whole portal flow in headless Chromium, driven by the visible texts of SPEC.md."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import Node, Nodepool

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def _deployment_rows(page):
    return page.locator("#model-deployments tbody tr td:first-child")


def test_compute_deploy_and_model_pages(
    page, shoot, queued, make_model, make_cluster, make_nodepool, make_deployment
):
    user = get_user_model().objects.create_user("ada", "ada@example.com", "correct-horse-42")
    model, version = make_model(user, "sentiment", description="Text sentiment")
    _log_in(page, "ada", "correct-horse-42")
    shoot(page, "dashboard")

    # Compute: a cluster, then a nodepool in it, through the forms.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Compute").click()
    expect(page.get_by_role("heading", name="Compute")).to_be_visible()
    shoot(page, "compute")
    page.get_by_role("link", name="Create a cluster").first.click()
    page.get_by_label("ID", exact=True).fill("east")
    page.get_by_label("Description").fill("Our hosts in Virginia")
    page.get_by_label("Cloud provider").select_option(label="AWS")
    page.get_by_label("Region").fill("us-east-1")
    shoot(page, "cluster-form")
    page.get_by_role("button", name="Create cluster").click()

    expect(page.get_by_role("heading", name="Create a nodepool in east")).to_be_visible()
    page.get_by_label("ID", exact=True).fill("cpu")
    page.get_by_label("Description").fill("General purpose")
    page.get_by_label("Instance type").fill("t3.large")
    page.get_by_label("CPU cores").fill("2")
    page.get_by_label("Memory").fill("8Gi")
    page.get_by_label("Price per hour (USD)").fill("0.0832")
    page.get_by_label("Maximum nodes").fill("3")
    shoot(page, "nodepool-form")
    page.get_by_role("button", name="Create nodepool").click()

    expect(page.get_by_role("heading", name="Nodepool cpu")).to_be_visible()
    nodepool = Nodepool.objects.get(cluster__owner=user, slug="cpu")
    assert nodepool.memory_bytes == 8 * 1024**3
    page.get_by_label("Name", exact=True).fill("node-1")
    page.get_by_label("Docker engine URL").fill("tcp://10.0.0.5:2376")
    page.get_by_role("button", name="Add node").click()
    expect(page.get_by_text("Node node-1 added")).to_be_visible()
    node = Node.objects.get(nodepool=nodepool, name="node-1")
    assert ("probe_node", (node.pk,)) in queued.calls
    shoot(page, "nodepool-empty")

    # The deploy form, opened from the nodepool page with cluster and nodepool chosen.
    page.get_by_role("link", name="Deploy a model", exact=True).click()
    expect(page.get_by_role("heading", name="Deploy a model")).to_be_visible()
    expect(page.get_by_label("Cluster", exact=True)).to_have_value("east")
    expect(page.get_by_label("Nodepool", exact=True)).to_have_value("cpu")
    expect(page.get_by_text("t3.large").last).to_be_visible()
    page.get_by_label("Deployment ID").fill("sent-east")
    page.get_by_label("Description").fill("Sentiment for the east coast")
    page.get_by_label("Model", exact=True).select_option("sentiment")
    # htmx loads the model's versions into the Version select.
    version_select = page.get_by_label("Version", exact=True)
    expect(version_select.locator("option", has_text="v1 · ready")).to_have_count(1)
    version_select.select_option(label="v1 · ready")
    expect(page.get_by_text("1 CPU, 512Mi")).to_be_visible()

    advanced = page.locator("details", has=page.get_by_text("Advanced settings"))
    expect(page.get_by_label("Minimum replicas")).to_be_hidden()
    page.get_by_text("Advanced settings").click()
    expect(advanced).to_have_attribute("open", "")
    expect(page.get_by_label("Minimum replicas")).to_have_value("1")
    expect(page.get_by_label("Scale down delay")).to_have_value("300")
    page.get_by_label("Minimum replicas").fill("2")
    page.get_by_label("Maximum replicas").fill("4")
    page.get_by_label("Scale down delay").fill("60")
    page.get_by_label("Scaling timeframe").fill("120")
    page.get_by_label("Scale up delay").fill("30")
    shoot(page, "deploy-form")
    page.get_by_role("button", name="Deploy model").click()

    # Lands on the nodepool page, which lists the deployed model.
    expect(page).to_have_url(re.compile(r"/compute/east/cpu/$"))
    deployed = page.locator("#deployed-models")
    expect(deployed.get_by_role("link", name="sent-east")).to_be_visible()
    expect(deployed.get_by_role("link", name="sentiment")).to_be_visible()
    expect(page.get_by_text("Deploying sentiment as sent-east")).to_be_visible()
    shoot(page, "nodepool")
    deployment = Deployment.objects.get(owner=user, slug="sent-east")
    assert (deployment.min_replicas, deployment.max_replicas) == (2, 4)
    assert deployment.scale_down_delay_seconds == 60
    assert deployment.traffic_history_seconds == 120
    assert deployment.scale_up_delay_seconds == 30
    assert ("reconcile_deployment", (deployment.pk,)) in queued.calls

    # A bad second deploy of the same model on the same nodepool says so beside the field.
    page.get_by_role("link", name="Deploy a model", exact=True).click()
    page.get_by_label("Deployment ID").fill("again")
    page.get_by_label("Model", exact=True).select_option("sentiment")
    expect(page.get_by_label("Version", exact=True)).to_have_value(version.version_id)
    page.get_by_role("button", name="Deploy model").click()
    expect(
        page.get_by_text("This model already has a deployment on this nodepool.")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Open deployment sent-east")).to_be_visible()
    shoot(page, "deploy-form-errors")

    # The deployment's page.
    page.get_by_role("link", name="Open deployment sent-east").click()
    expect(page.get_by_role("heading", name="Deployment sent-east")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("hx-trigger", "every 2s")
    shoot(page, "deployment")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_label("Maximum replicas")).to_have_value("4")
    page.get_by_label("Maximum replicas").fill("6")
    shoot(page, "deployment-edit")
    page.get_by_role("button", name="Save deployment").click()
    expect(page.get_by_text("Deployment sent-east saved")).to_be_visible()
    expect(page.get_by_text("maximum replicas 4 → 6")).to_be_visible()

    # Two more deployments on other nodepools, so each column sorts differently.
    west = make_nodepool(make_cluster(user, "west"), "gpu")
    middle = make_nodepool(make_cluster(user, "middle"), "arm")
    make_deployment(user, model, version, west, "a-west")
    make_deployment(user, model, version, middle, "z-middle")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    shoot(page, "models")
    page.get_by_role("link", name="sentiment", exact=True).click()
    page.get_by_role("tab", name="Deployments").click()
    expect(page).to_have_url(re.compile(r"/models/sentiment/deployments/$"))
    rows = _deployment_rows(page)
    expect(rows).to_have_text(["a-west", "sent-east", "z-middle"])
    expect(page.get_by_role("link", name="Deploy model", exact=True)).to_be_visible()
    shoot(page, "model-deployments")

    table = page.locator("#model-deployments")
    table.get_by_role("link", name="Cluster", exact=True).click()  # A–Z: east, middle, west
    expect(rows).to_have_text(["sent-east", "z-middle", "a-west"])
    expect(page).to_have_url(re.compile(r"sort=cluster$"))
    table.get_by_role("link", name="Cluster", exact=True).click()  # Z–A
    expect(rows).to_have_text(["a-west", "z-middle", "sent-east"])
    expect(page).to_have_url(re.compile(r"sort=-cluster$"))
    table.get_by_role("link", name="Deployment", exact=True).click()  # A–Z
    expect(rows).to_have_text(["a-west", "sent-east", "z-middle"])
    table.get_by_role("link", name="Deployment", exact=True).click()  # Z–A
    expect(rows).to_have_text(["z-middle", "sent-east", "a-west"])
    shoot(page, "model-deployments-sorted")
    # The sort is in the URL: a reload keeps it.
    page.reload()
    expect(rows).to_have_text(["z-middle", "sent-east", "a-west"])

    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_role("tab", name="Versions")).to_have_attribute("aria-selected", "true")
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_role("link", name="v1", exact=True)).to_be_visible()
    shoot(page, "model-versions")
    panel.get_by_role("link", name="v1", exact=True).click()
    expect(page.get_by_role("heading", name="sentiment v1")).to_be_visible()
    shoot(page, "model-version")
    page.go_back()

    page.get_by_role("tab", name="Overview").click()
    dropdown = page.get_by_label("Deployment", exact=True)
    expect(dropdown).to_have_value("")
    expect(dropdown.locator("option:checked")).to_have_text("Shared")
    expect(dropdown.locator("option")).to_have_count(4)
    expect(page.get_by_role("button", name="Predict")).to_be_visible()
    shoot(page, "model-overview")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deployments").click()
    expect(page.get_by_role("link", name="sent-east")).to_be_visible()
    shoot(page, "deployments")


def test_model_without_deployments_offers_deploy_this_model(page, shoot, make_model):
    user = get_user_model().objects.create_user("bo", "bo@example.com", "correct-horse-42")
    make_model(user, "iris")
    _log_in(page, "bo", "correct-horse-42")
    page.goto("/models/iris/")
    page.get_by_role("tab", name="Deployments").click()
    expect(page.get_by_text("This model is not deployed anywhere yet.")).to_be_visible()
    shoot(page, "model-deployments-empty")
    page.get_by_role("link", name="Deploy this model").click()
    expect(page.get_by_role("heading", name="Deploy a model")).to_be_visible()
    expect(page.get_by_label("Model", exact=True)).to_have_value("iris")
    # No compute of their own yet: the form links to create it and come back.
    expect(page.get_by_role("link", name="Create a cluster")).to_be_visible()
    shoot(page, "deploy-form-empty")
