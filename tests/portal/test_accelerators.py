"""Accelerators on the compute pages: the nodepool's sharing setting and each node's
devices, for the owner, another user (404) and a visitor (to login)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orchestration.nodepools.models import Nodepool

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpu(owner, make_cluster, make_nodepool, make_node):
    pool = make_nodepool(
        make_cluster(owner, "east"), "gpu", accelerators=2, accelerator_type="NVIDIA A10G"
    )
    make_node(
        pool, "g1", accelerators=2, accelerator_ids=["GPU-a", "GPU-b"], accelerator_driver="nvidia"
    )
    return pool


def edit_data(**overrides) -> dict:
    data = {
        "slug": "gpu",
        "instance_type": "g5.xlarge",
        "cpu_cores": "4",
        "memory_bytes": "16Gi",
        "accelerators": "2",
        "accelerator_type": "NVIDIA A10G",
        "price_per_hour": "1",
        "min_nodes": "0",
        "max_nodes": "3",
    }
    return data | overrides


def test_owner_sees_devices_and_turns_sharing_on(owner_client, gpu):
    page = reverse("clusters:nodepool", args=["east", "gpu"])
    body = owner_client.get(page).content.decode()
    assert "one replica per device" in body
    assert "0 / 2 × NVIDIA A10G" in body
    assert "devices GPU-a, GPU-b · nvidia runtime" in body

    edit = reverse("clusters:nodepool_edit", args=["east", "gpu"])
    assert 'name="accelerator_sharing"' in owner_client.get(edit).content.decode()
    response = owner_client.post(edit, edit_data(accelerator_sharing="on"))
    assert response.status_code == 302
    assert Nodepool.objects.get(pk=gpu.pk).accelerator_sharing is True
    assert "replicas may share a device" in owner_client.get(page).content.decode()
    # An unchecked box turns it off again.
    owner_client.post(edit, edit_data())
    assert Nodepool.objects.get(pk=gpu.pk).accelerator_sharing is False


def test_node_form_takes_an_accelerator_type(owner_client, gpu):
    form = {"name": "g2", "engine_url": "tcp://10.0.0.5:2376", "address": ""}
    form |= {"cpu_capacity": "2", "memory_capacity_bytes": "8Gi", "accelerators": "1"}
    form |= {"accelerator_type": "NVIDIA L4"}
    owner_client.post(reverse("clusters:node_add", args=["east", "gpu"]), form)
    assert gpu.nodes.get(name="g2").accelerator_type == "NVIDIA L4"
    body = owner_client.get(reverse("clusters:nodepool", args=["east", "gpu"])).content.decode()
    assert "0 / 1 × NVIDIA L4" in body


def test_other_user_404_and_visitor_to_login(other_client, visitor_client, gpu):
    page = reverse("clusters:nodepool", args=["east", "gpu"])
    edit = reverse("clusters:nodepool_edit", args=["east", "gpu"])
    assert other_client.get(page).status_code == 404
    assert other_client.post(edit, edit_data(accelerator_sharing="on")).status_code == 404
    for url in (page, edit):
        response = visitor_client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert visitor_client.post(edit, edit_data(accelerator_sharing="on")).status_code == 302
    assert Nodepool.objects.get(pk=gpu.pk).accelerator_sharing is False
