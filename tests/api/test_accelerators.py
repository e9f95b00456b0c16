"""Accelerator fields through the API: the nodepool's sharing setting and a node's
devices, for the owner, another user (404) and a visitor (401)."""

from __future__ import annotations

import pytest

from orchestration.nodepools.models import Node, Nodepool

pytestmark = pytest.mark.django_db

POOL = "clusters/east/nodepools/gpu/"


@pytest.fixture
def gpu_pool(owner_api):
    assert owner_api.post("clusters/", {"id": "east"}).status_code == 201
    body = {"id": "gpu", "accelerators": 2, "accelerator_type": "NVIDIA A10G"}
    created = owner_api.post("clusters/east/nodepools/", body)
    assert created.status_code == 201, created.content
    return created.json()


def test_sharing_is_off_by_default_and_changes_by_patch(owner_api, gpu_pool):
    assert gpu_pool["accelerator_sharing"] is False
    patched = owner_api.patch(POOL, {"accelerator_sharing": True})
    assert patched.status_code == 200, patched.content
    assert patched.json()["accelerator_sharing"] is True
    assert Nodepool.objects.get(slug="gpu").accelerator_sharing is True
    assert owner_api.get(POOL).json()["accelerator_sharing"] is True


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_sharing_takes_only_true_or_false(owner_api, gpu_pool, value):
    response = owner_api.patch(POOL, {"accelerator_sharing": value})
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["accelerator_sharing"]


def test_node_shows_its_devices_type_and_use(owner_api, gpu_pool):
    created = owner_api.post(POOL + "nodes/", {"name": "g1", "engine_url": "tcp://10.0.0.9:2376"})
    assert created.status_code == 201, created.content
    node = created.json()
    assert node["accelerators"] == 2
    assert node["accelerator_type"] == "NVIDIA A10G"  # the nodepool's
    assert node["accelerator_ids"] == ["0", "1"]
    assert (node["accelerator_driver"], node["used_accelerators"]) == ("", 0)

    # Devices the engine reported are the ones replicas get.
    Node.objects.filter(name="g1").update(accelerator_ids=["GPU-a"], accelerators=1)
    assert owner_api.get(POOL + "nodes/g1/").json()["accelerator_ids"] == ["GPU-a"]

    patched = owner_api.patch(POOL + "nodes/g1/", {"accelerator_type": "NVIDIA L4"})
    assert patched.json()["accelerator_type"] == "NVIDIA L4"
    too_long = owner_api.patch(POOL + "nodes/g1/", {"accelerator_type": "x" * 65})
    assert [e["field"] for e in too_long.json()["errors"]] == ["accelerator_type"]


def test_other_user_gets_404_and_visitor_401(owner_api, other_api, anon_api, gpu_pool):
    owner_api.post(POOL + "nodes/", {"name": "g1", "engine_url": "tcp://10.0.0.9:2376"})
    assert other_api.get(POOL).status_code == 404
    assert other_api.patch(POOL, {"accelerator_sharing": True}).status_code == 404
    assert other_api.get(POOL + "nodes/g1/").status_code == 404
    assert other_api.patch(POOL + "nodes/g1/", {"accelerator_type": "x"}).status_code == 404
    assert anon_api.get(POOL).status_code == 401
    assert anon_api.patch(POOL, {"accelerator_sharing": True}).status_code == 401
    assert anon_api.get(POOL + "nodes/g1/").status_code == 401
    assert Nodepool.objects.get(slug="gpu").accelerator_sharing is False
    assert Node.objects.get(name="g1").accelerator_type == ""


def test_a_device_count_past_any_real_node_is_refused(owner_api, gpu_pool):
    """Devices are listed one by one: a count of two billion once built a list that size
    (the API fuzz found it as a MemoryError)."""
    too_many = owner_api.patch(POOL, {"accelerators": 2_000_000_000})
    assert too_many.status_code == 400, too_many.content
    assert [e["field"] for e in too_many.json()["errors"]] == ["accelerators"]
    node = owner_api.post(f"{POOL}nodes/", {"name": "n1", "engine_url": "tcp://10.0.0.2:2376"})
    assert node.status_code == 201, node.content
    patched = owner_api.patch(f"{POOL}nodes/n1/", {"accelerators": 65})
    assert patched.status_code == 400, patched.content
    assert owner_api.patch(f"{POOL}nodes/n1/", {"accelerators": 64}).status_code == 200
    assert len(owner_api.get(f"{POOL}nodes/n1/").json()["accelerator_ids"]) == 64
