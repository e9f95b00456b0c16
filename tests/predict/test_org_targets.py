"""Which deployment a prediction naming an organization goes to, for each caller: the key
resolution and target lookup of the HTTP and gRPC paths (no Docker needed)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from orchestration.predict import resolve

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_caches():
    for cache in (resolve._keys, resolve._targets, resolve._spaces):
        cache.forget()
    yield
    for cache in (resolve._keys, resolve._targets, resolve._spaces):
        cache.forget()


@pytest.fixture
def acme(team, make_cluster, make_nodepool, make_model, make_deployment):
    pool = make_nodepool(make_cluster(team.account, "east"), "cpu")
    model, version = make_model(team.account, "sentiment")
    team.deployment = make_deployment(team.account, model, version, pool, slug="dep")
    return team


def _target(key: str, user_id="acme", **where):
    caller = async_to_sync(resolve.caller_from_key)(f"Key {key}")
    where.setdefault("model_slug", "sentiment")
    return async_to_sync(resolve.target_for)(
        caller,
        user_id=user_id,
        version_id=None,
        deployment_slug=where.pop("deployment_slug", None),
        selector=where.pop("selector", None),
        **where,
    )


@pytest.mark.parametrize("scoped", [True, False])
@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_members_predict_on_the_organizations_deployment(acme, role, scoped):
    target = _target(acme.key(role, scoped=scoped), deployment_slug="dep")
    assert target.deployment_id == acme.deployment.pk
    assert target.labels[1] == "acme"  # metrics count it as the organization's
    selector = {"deployment": {"id": "dep", "user_id": "acme"}}
    assert _target(acme.key(role), selector=selector).deployment_id == acme.deployment.pk


def test_a_viewer_is_refused_unless_the_organization_allows(acme):
    key = acme.key("viewer")
    with pytest.raises(resolve.PredictError) as exc:
        _target(key, deployment_slug="dep")
    assert exc.value.http_status == 403 and exc.value.code == resolve.INSUFFICIENT_SCOPES
    acme.organization.viewers_can_predict = True
    acme.organization.save()
    resolve._spaces.forget()
    assert _target(key, deployment_slug="dep").deployment_id == acme.deployment.pk


@pytest.mark.parametrize("scoped", [True, False])
def test_the_outsider_gets_does_not_exist(acme, scoped):
    for where in ({"deployment_slug": "dep"}, {}):
        with pytest.raises(resolve.PredictError) as exc:
            _target(acme.key("outsider", scoped=scoped), **where)
        assert exc.value.http_status == 404


def test_me_is_the_keys_own_user_and_a_scoped_key_does_not_reach_it(acme):
    with pytest.raises(resolve.PredictError) as exc:
        _target(acme.key("member", scoped=False), user_id="me", deployment_slug="dep")
    assert exc.value.http_status == 404  # the member has no deployment `dep` of their own
    with pytest.raises(resolve.PredictError) as exc:
        _target(acme.key("member"), user_id="me", deployment_slug="dep")
    assert exc.value.http_status == 404


def test_a_removed_member_loses_the_organization(acme):
    from orchestration.accounts import org_actions
    from orchestration.accounts.access import organization_space

    key = acme.key("member", scoped=False)
    assert _target(key, deployment_slug="dep").deployment_id == acme.deployment.pk
    owner = organization_space(acme.users["owner"], acme.organization)
    org_actions.remove_member(owner, username="team-member")
    resolve._spaces.forget()  # what CACHE_SECONDS does by itself
    with pytest.raises(resolve.PredictError) as exc:
        _target(key, deployment_slug="dep")
    assert exc.value.http_status == 404
