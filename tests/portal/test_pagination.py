"""Long lists in the portal come in pages (PORTAL_PAGE_SIZE rows, ?page=)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_pages(settings):
    settings.PORTAL_PAGE_SIZE = 2


@pytest.fixture
def five_deployments(owner, world, make_cluster, make_nodepool, make_deployment):
    """Deployments d0..d4 of `sentiment`, each on its own nodepool (one per model per pool)."""
    for n in range(5):
        pool = world.nodepool if n == 0 else make_nodepool(world.cluster, f"pool-{n}")
        make_deployment(owner, world.model, world.version, pool, slug=f"d{n}")


def _links(body: str, model_path: str = "/deployments/") -> list[str]:
    return re.findall(rf'<td><a href="{model_path}([a-z0-9_-]+)/">', body)


def test_deployment_list_pages(owner_client, small_pages, five_deployments):
    url = reverse("deployments:list")
    first = owner_client.get(url).content.decode()
    assert _links(first) == ["d0", "d1"]
    assert "1–2 of 5" in first and "Page 1 of 3" in first
    assert f'href="{url}?page=2"' in first and 'rel="next"' in first
    assert _links(owner_client.get(url, {"page": 3}).content.decode()) == ["d4"]


@pytest.mark.parametrize("page, expected", [("0", ["d4"]), ("99", ["d4"]), ("two", ["d0", "d1"])])
def test_a_page_out_of_range_shows_the_nearest(
    owner_client, small_pages, five_deployments, page, expected
):
    response = owner_client.get(reverse("deployments:list"), {"page": page})
    assert response.status_code == 200
    assert _links(response.content.decode()) == expected


def test_one_page_shows_no_pager(owner_client, five_deployments):
    body = owner_client.get(reverse("deployments:list")).content.decode()
    assert len(_links(body)) == 5
    assert 'class="pagination"' not in body


def test_models_and_clusters_page_too(owner, owner_client, small_pages, make_model, make_cluster):
    for slug in ("m-a", "m-b", "m-c"):
        make_model(owner, slug)
        make_cluster(owner, f"c-{slug}")
    models = owner_client.get(reverse("models:list"), {"page": 2}).content.decode()
    assert _links(models, "/models/") == ["m-c"]
    clusters = owner_client.get(reverse("clusters:list"), {"page": 2}).content.decode()
    assert re.findall(r'<td><a href="/compute/([a-z0-9_-]+)/">', clusters) == ["c-m-c"]


def test_the_deployments_tab_lists_every_deployment_on_one_page(
    owner_client, small_pages, five_deployments
):
    url = reverse("models:deployments", args=["sentiment"])
    body = owner_client.get(url, {"sort": "-deployment"}).content.decode()
    table = body[body.index('id="model-deployments"') :]
    assert _links(table) == ["d4", "d3", "d2", "d1", "d0"]
    assert 'class="pagination"' not in body


def test_other_users_objects_stay_out_of_the_count(
    other_client, small_pages, five_deployments, visitor_client
):
    body = other_client.get(reverse("deployments:list")).content.decode()
    assert _links(body) == [] and "of 5" not in body
    response = visitor_client.get(reverse("deployments:list"), {"page": 2})
    assert response.status_code == 302 and "/login/" in response["Location"]
