"""One user never sees another's objects; the shared cluster is visible to all."""

from orchestration.catalog.models import Model
from orchestration.clusters.models import Cluster
from orchestration.deployments.models import Deployment
from orchestration.nodepools.models import Nodepool
from orchestration.nodepools.shared import ensure_shared_compute, shared_nodepool


def test_querysets_isolate_owners(
    owner, other_user, make_cluster, make_nodepool, make_model, make_deployment
):
    shared = ensure_shared_compute()
    pool = make_nodepool(make_cluster(owner))
    model, version = make_model(owner)
    make_deployment(owner, model, version, pool)
    other_pool = make_nodepool(make_cluster(other_user, "west"))

    assert set(Cluster.objects.visible_to(other_user)) == {other_pool.cluster, shared.cluster}
    assert set(Nodepool.objects.visible_to(other_user)) == {other_pool, shared}
    assert list(Nodepool.objects.owned_by(other_user)) == [other_pool]
    assert not Model.objects.owned_by(other_user).exists()
    assert not Deployment.objects.owned_by(other_user).exists()
    assert Deployment.objects.owned_by(owner).count() == 1


def test_shared_compute_is_idempotent(db, settings):
    first = ensure_shared_compute()
    second = ensure_shared_compute()
    assert first.pk == second.pk == shared_nodepool().pk
    assert first.cluster.is_shared and first.cluster.owner is None
    node = first.nodes.get()
    assert node.engine_url == settings.DOCKER_URL
    assert Cluster.objects.filter(is_shared=True).count() == 1
