"""Key and session authentication of the API, and the auth helper the predict API reuses."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from orchestration.accounts.actions import revoke_token
from orchestration.accounts.auth import key_from_request, user_from_request
from orchestration.accounts.models import AccessToken
from tests.api.support import ApiClient

pytestmark = pytest.mark.django_db


def test_key_authenticates_and_records_use(owner, owner_key):
    response = ApiClient(owner_key).get("me/")
    assert response.status_code == 200
    assert response.json()["username"] == "owner"
    assert AccessToken.objects.get(user=owner).last_used_at is not None


def test_bearer_is_accepted_too(owner_key):
    client = Client()
    response = client.get("/api/v1/me/", headers={"Authorization": f"Bearer {owner_key}"})
    assert response.status_code == 200


def test_revoked_key_is_401(owner, owner_key):
    revoke_token(AccessToken.objects.get(user=owner))
    assert ApiClient(owner_key).get("me/").status_code == 401


def test_inactive_user_key_is_401(owner, owner_key):
    owner.is_active = False
    owner.save()
    assert ApiClient(owner_key).get("me/").status_code == 401


@pytest.mark.parametrize("header", ["", "Key", "Key ", "Basic abc", "Token orc_x", "Key \x00"])
def test_malformed_headers_are_401(db, header):
    response = Client().get("/api/v1/me/", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Authentication required")


def test_unauthenticated_api_is_json_not_login_redirect(db):
    response = Client().get("/api/v1/clusters/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")


def test_session_auth_for_reads(owner_client):
    assert owner_client.get("/api/v1/me/").json()["username"] == "owner"


def test_session_writes_need_csrf(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/api/v1/clusters/", {"id": "east"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == "CSRF check Failed"
    # With the token from the portal's cookie, the same call works.
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/clusters/",
        {"id": "east"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content


def test_key_writes_need_no_csrf(owner_key):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/clusters/",
        {"id": "east"},
        content_type="application/json",
        headers={"Authorization": f"Key {owner_key}"},
    )
    assert response.status_code == 201


def test_bad_key_is_not_rescued_by_session(owner_client):
    response = owner_client.get("/api/v1/me/", headers={"Authorization": "Key orc_wrong"})
    assert response.status_code == 401


def test_key_wins_over_session(owner_client, other_key):
    response = owner_client.get("/api/v1/me/", headers={"Authorization": f"Key {other_key}"})
    assert response.json()["username"] == "other"


# --- the helper ---------------------------------------------------------------------------


def test_user_from_request_helper(owner, owner_key, other_user):
    from django.contrib.auth.models import AnonymousUser

    factory = RequestFactory()
    request = factory.get("/", headers={"Authorization": f"Key {owner_key}"})
    request.user = AnonymousUser()
    assert key_from_request(request) == owner_key
    assert user_from_request(request) == owner

    request = factory.get("/")
    request.user = other_user
    assert key_from_request(request) is None
    assert user_from_request(request) == other_user
    assert user_from_request(request, allow_session=False) is None

    request = factory.get("/", headers={"Authorization": "Key nope"})
    request.user = other_user
    assert user_from_request(request) is None


def test_async_helper(owner, owner_key):
    from asgiref.sync import async_to_sync
    from django.contrib.auth.models import AnonymousUser

    from orchestration.accounts.auth import auser_from_request

    request = RequestFactory().get("/", headers={"Authorization": f"Key {owner_key}"})
    request.user = AnonymousUser()
    assert async_to_sync(auser_from_request)(request) == owner


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unsafe_call_without_credentials_is_401_not_csrf_403(db, method):
    # Regression: no key and no session answered 403 "CSRF check Failed".
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(
        "/api/v1/clusters/east/" if method != "post" else "/api/v1/clusters/",
        {"id": "east"},
        content_type="application/json",
    )
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["detail"].startswith("Authentication required")
    assert body["errors"] and body["errors"][0]["field"] is None
    assert response["WWW-Authenticate"] == "Key"


def test_stale_session_cookie_without_csrf_is_401(db):
    # A session cookie that names no logged-in user is no session: 401, not a CSRF 403.
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "not-a-session"
    response = client.post("/api/v1/clusters/", {"id": "east"}, content_type="application/json")
    assert response.status_code == 401, response.content
