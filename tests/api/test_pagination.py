"""Lists come in pages: ?limit= and ?offset=, bounded, with the total count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orchestration.api.common import MAX_OFFSET

pytestmark = pytest.mark.django_db


@pytest.fixture
def twelve_clusters(owner, make_cluster):
    return [make_cluster(owner, f"c{n:02d}") for n in range(12)]


def test_pages_walk_the_whole_list_in_order(owner_api, twelve_clusters):
    seen = []
    for offset in (0, 5, 10):
        page = owner_api.get(f"clusters/?limit=5&offset={offset}").json()
        assert page["count"] == 12
        seen += [c["id"] for c in page["items"]]
    assert seen == [f"c{n:02d}" for n in range(12)]


def test_without_limit_a_page_holds_the_configured_size(owner_api, twelve_clusters, settings):
    page = owner_api.get("clusters/").json()
    assert len(page["items"]) == min(12, settings.API_PAGE_SIZE) and page["count"] == 12


def test_past_the_end_is_an_empty_page(owner_api, twelve_clusters):
    assert owner_api.get("clusters/?offset=50").json() == {"items": [], "count": 12}


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        (f"offset={MAX_OFFSET + 1}", "offset"),
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(owner_api, twelve_clusters, query, field):
    response = owner_api.get(f"clusters/?{query}")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_page_costs_the_same_queries_whatever_the_list_size(
    owner_api, owner, make_cluster, make_model, make_deployment, make_nodepool
):
    """Only the page's rows are fetched and converted (count and slice in the database)."""
    cluster = make_cluster(owner)

    def deploy(n):
        pool = make_nodepool(cluster, slug=f"p{n}")
        model, version = make_model(owner, f"m{n}")
        make_deployment(owner, model, version, pool, slug=f"d{n}")

    deploy(0)
    with CaptureQueriesContext(connection) as small:
        assert len(owner_api.get("deployments/?limit=2").json()["items"]) == 1
    for n in range(1, 6):
        deploy(n)
    with CaptureQueriesContext(connection) as large:
        page = owner_api.get("deployments/?limit=2").json()
    assert len(page["items"]) == 2 and page["count"] == 6
    assert len(large.captured_queries) == len(small.captured_queries)
