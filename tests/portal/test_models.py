"""Model pages: the list, the Overview / Versions / Deployments tabs, versions, delete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from orchestration.catalog.models import BuildStatus, Model

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _rows(body: str) -> list[str]:
    """Deployment ids in the order the Deployments tab lists them."""
    table = body[body.index('id="model-deployments"') :]
    return re.findall(r'<td><a href="/deployments/([a-z0-9_-]+)/">', table)


@pytest.fixture
def three_deployments(owner, world, make_cluster, make_nodepool, make_deployment):
    """b-dep on east/cpu, a-dep on west/gpu, c-dep on middle/arm: each column sorts differently."""
    west = make_nodepool(make_cluster(owner, "west"), "gpu")
    middle = make_nodepool(make_cluster(owner, "middle"), "arm")
    make_deployment(owner, world.model, world.version, world.nodepool, "b-dep")
    make_deployment(owner, world.model, world.version, west, "a-dep")
    make_deployment(owner, world.model, world.version, middle, "c-dep")


def test_visitor_and_other_user(visitor_client, other_client, world):
    model, version = world.model, world.version
    urls = [
        reverse("models:detail", args=[model.slug]),
        reverse("models:versions", args=[model.slug]),
        reverse("models:deployments", args=[model.slug]),
        reverse("models:version", args=[model.slug, version.version_id]),
        reverse("models:delete", args=[model.slug]),
    ]
    for url in [reverse("models:list"), *urls]:
        response = visitor_client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    for url in urls:
        assert other_client.get(url).status_code == 404, url
    assert other_client.post(reverse("models:delete", args=[model.slug])).status_code == 404
    assert other_client.post(reverse("models:predict", args=[model.slug])).status_code == 404
    assert Model.objects.filter(pk=model.pk).exists()


def test_model_list(owner_client, other_user, world, make_model):
    make_model(other_user, "not-mine")
    body = owner_client.get(reverse("models:list")).content.decode()
    assert "sentiment" in body and "not-mine" not in body
    assert "Text sentiment" in body
    assert "v1" in body and "Ready" in body


def test_model_list_empty_state(owner_client):
    body = owner_client.get(reverse("models:list")).content.decode()
    assert "You have no models yet." in body
    assert reverse("models:upload") in body


def test_overview_tab_has_tabs_and_predict_form(owner_client, owner, world, make_deployment):
    make_deployment(owner, world.model, world.version, world.nodepool, "sent-east")
    body = owner_client.get(world.model.get_absolute_url()).content.decode()
    for tab in ("Overview", "Versions", "Deployments"):
        assert f">{tab}</a>" in body
    assert 'aria-selected="true">Overview</a>' in body
    assert '<label for="deployment">Deployment</label>' in body
    assert '<option value="" selected>Shared</option>' in body
    assert '<option value="sent-east">' in body
    assert '<label for="predict-text">Input text</label>' in body
    assert 'type="file"' not in body  # a text model: no image input
    assert ">Predict</button>" in body
    assert f'hx-post="{reverse("models:predict", args=["sentiment"])}"' in body
    assert "Text sentiment" in body


def test_overview_sdk_snippet_follows_the_chosen_deployment(
    owner_client,
    owner,
    other_user,
    world,
    make_model,
    make_deployment,
    make_cluster,
    make_nodepool,
    settings,
):
    make_deployment(owner, world.model, world.version, world.nodepool, "sent-east")
    theirs = make_nodepool(make_cluster(other_user, "theirs"), "cpu")
    make_deployment(other_user, *make_model(other_user, "sentiment"), theirs, "their-dep")
    url = world.model.get_absolute_url()
    settings.GRPC_PORT, settings.GRPC_TLS_CERT = 18123, ""
    settings.ALLOWED_HOSTS = ["portal.example", "testserver"]
    body = owner_client.get(url, HTTP_HOST="portal.example:8000").content.decode()
    assert "Use it from the SDK" in body
    assert 'base_url="http://portal.example:18123"' in body
    assert "deployment_id=" not in body  # Shared
    assert 'data-copy-from="sdk-code"' in body
    # The dropdown asks for the snippet alone; the choice shows as deployment_id.
    assert f'hx-get="{url}" hx-trigger="change" hx-target="#sdk-snippet"' in body
    fragment = owner_client.get(
        url, {"deployment": "sent-east"}, HTTP_HX_TARGET="sdk-snippet", **HTMX
    ).content.decode()
    assert fragment.startswith('<div id="sdk-snippet"') and "<html" not in fragment
    assert 'deployment_id="sent-east"' in fragment
    # Without JavaScript the same query gives the whole page, the choice kept.
    page = owner_client.get(url, {"deployment": "sent-east"}).content.decode()
    assert '<option value="sent-east" selected>' in page and 'deployment_id="sent-east"' in page
    # An unknown id, or one of another user's deployments, is Shared: nothing leaks.
    for wanted in ("nope", "their-dep"):
        body = owner_client.get(url, {"deployment": wanted}).content.decode()
        assert "deployment_id=" not in body and "their-dep" not in body
    settings.GRPC_TLS_CERT = "/etc/cert.pem"
    body = owner_client.get(url, HTTP_HOST="portal.example").content.decode()
    assert 'base_url="https://portal.example:18123"' in body


def test_image_models_get_a_file_input(owner_client, owner, make_model):
    make_model(owner, "cats", model_type_id="visual-classifier")
    body = owner_client.get(reverse("models:detail", args=["cats"])).content.decode()
    assert '<label for="predict-image">Input image</label>' in body
    assert 'type="file"' in body
    assert 'predict_by_filepath("image.jpg", input_type="image")' in body


def test_predict_form_reports_bad_input_in_the_fragment(owner_client, world):
    url = reverse("models:predict", args=["sentiment"])
    response = owner_client.post(url, {"deployment": "", "text": "  "}, **HTMX)
    body = response.content.decode()
    assert "Type some text" in body
    assert "<html" not in body
    response = owner_client.post(url, {"deployment": "nope", "text": "hi"}, **HTMX)
    assert "Deployment does not exist" in response.content.decode()
    # Without JavaScript the result is a page of its own.
    response = owner_client.post(url, {"deployment": "nope", "text": "hi"})
    assert "<html" in response.content.decode()
    assert "Deployment does not exist" in response.content.decode()


def test_versions_tab(owner_client, owner, world, make_model):
    make_model(owner, "sentiment", status=BuildStatus.BUILDING)
    body = owner_client.get(reverse("models:versions", args=["sentiment"])).content.decode()
    assert 'aria-selected="true">Versions</a>' in body
    assert "v2" in body and "Building" in body
    assert world.version.get_absolute_url() in body


def test_deployments_tab_empty_state(owner_client, world):
    body = owner_client.get(reverse("models:deployments", args=["sentiment"])).content.decode()
    assert 'aria-selected="true">Deployments</a>' in body
    assert "Deploy this model" in body
    assert ">Deploy model</a>" in body
    assert reverse("deployments:create") + "?model=sentiment" in body


def test_deployments_tab_lists_and_sorts(owner_client, world, three_deployments):
    url = reverse("models:deployments", args=["sentiment"])
    body = owner_client.get(url).content.decode()
    assert ">Deploy model</a>" in body
    assert "Deploy this model" not in body
    for column in ("Deployment", "Cluster", "Nodepool"):
        assert f">{column}</a>" in body
    assert _rows(body) == ["a-dep", "b-dep", "c-dep"]  # default: by deployment A–Z
    expected = {
        "deployment": ["a-dep", "b-dep", "c-dep"],
        "-deployment": ["c-dep", "b-dep", "a-dep"],
        "cluster": ["b-dep", "c-dep", "a-dep"],  # east, middle, west
        "-cluster": ["a-dep", "c-dep", "b-dep"],
        "nodepool": ["c-dep", "b-dep", "a-dep"],  # arm, cpu, gpu
        "-nodepool": ["a-dep", "b-dep", "c-dep"],
    }
    for sort, order in expected.items():
        assert _rows(owner_client.get(url, {"sort": sort}).content.decode()) == order, sort


def test_sort_headers_toggle_and_keep_the_choice_in_the_url(owner_client, world, three_deployments):
    url = reverse("models:deployments", args=["sentiment"])
    body = owner_client.get(url, {"sort": "cluster"}).content.decode()
    # The active column links to Z–A; the others to their A–Z.
    assert f'href="{url}?sort=-cluster" hx-get="{url}?sort=-cluster"' in body
    assert f'href="{url}?sort=deployment"' in body
    assert 'hx-push-url="true"' in body
    assert '<th aria-sort="ascending"><a' in body
    body = owner_client.get(url, {"sort": "-cluster"}).content.decode()
    assert f'href="{url}?sort=cluster"' in body
    assert '<th aria-sort="descending"><a' in body


@pytest.mark.parametrize("bad", ["slug; DROP TABLE x", "owner__password", "-", "model"])
def test_invalid_sort_falls_back_to_default(owner_client, world, three_deployments, bad):
    url = reverse("models:deployments", args=["sentiment"])
    response = owner_client.get(url, {"sort": bad})
    assert response.status_code == 200
    assert _rows(response.content.decode()) == ["a-dep", "b-dep", "c-dep"]


def test_tabs_answer_htmx_with_the_fragment(owner_client, world, three_deployments):
    url = reverse("models:deployments", args=["sentiment"])
    response = owner_client.get(url, {"sort": "-deployment"}, HTTP_HX_TARGET="model-tabs", **HTMX)
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="model-tabs"' in body
    assert _rows(body) == ["c-dep", "b-dep", "a-dep"]
    assert "HX-Request" in response["Vary"]
    # A history restore (back button, htmx cache miss) gets the whole page.
    response = owner_client.get(
        url, HTTP_HX_TARGET="model-tabs", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )
    assert "<html" in response.content.decode()


def test_version_page_polls_while_building(owner_client, owner, world, make_model):
    _, building = make_model(owner, "sentiment", status=BuildStatus.BUILDING)
    building.build_log = "Step 1/4 : FROM base\n"
    building.save()
    url = building.get_absolute_url()
    body = owner_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in body
    assert '<pre class="buildlog">Step 1/4 : FROM base' in body
    assert "&quot;id&quot;: &quot;sentiment&quot;" in body  # the config, as JSON
    fragment = owner_client.get(url, HTTP_HX_TARGET="build", **HTMX).content.decode()
    assert "<html" not in fragment and 'id="build"' in fragment
    building.build_status = BuildStatus.READY
    building.save()
    fragment = owner_client.get(url, HTTP_HX_TARGET="build", **HTMX).content.decode()
    assert "hx-trigger" not in fragment  # settled: polling stops
    assert "Ready" in fragment


def test_version_page_of_ready_version_does_not_poll(owner_client, world):
    body = owner_client.get(world.version.get_absolute_url()).content.decode()
    assert "every 2s" not in body
    assert "Deploy this version" in body
    assert f"version={world.version.version_id}" in body


def test_unknown_version_is_404(owner_client, world):
    assert (
        owner_client.get(reverse("models:version", args=["sentiment", "nope"])).status_code == 404
    )


def test_delete_model_and_its_uploads(
    owner_client, owner, make_model, django_capture_on_commit_callbacks
):
    model, version = make_model(owner, "gone")
    stored = Path(version.upload.path)
    assert stored.exists()
    url = reverse("models:delete", args=["gone"])
    assert "Delete model" in owner_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, follow=True)
    assert not Model.objects.filter(pk=model.pk).exists()
    assert "Model gone and its versions were deleted." in response.content.decode()
    assert not stored.exists()


def test_delete_model_with_deployments_is_refused(owner_client, owner, world, make_deployment):
    make_deployment(owner, world.model, world.version, world.nodepool, "dep")
    url = reverse("models:delete", args=["sentiment"])
    assert "still deployed" in owner_client.get(url).content.decode()
    owner_client.post(url)
    assert Model.objects.filter(pk=world.model.pk).exists()
