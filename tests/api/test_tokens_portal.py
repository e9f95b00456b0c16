"""The portal's API keys page: create (shown once), list, revoke."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from orchestration.accounts.models import AccessToken
from tests.api.support import ApiClient

pytestmark = pytest.mark.django_db

URL = "/account/tokens/"


def test_url_name():
    assert reverse("accounts:tokens") == URL


def test_login_required(visitor_client):
    response = visitor_client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_create_shows_token_once_and_it_works(owner_client, owner):
    page = owner_client.get(URL).content.decode()
    assert '<label for="id_name">Token name</label>' in page
    response = owner_client.post(URL, {"name": "laptop"}, follow=True)
    html = response.content.decode()
    token = AccessToken.objects.get(user=owner)
    plain = re.search(r'id="new-token-value" readonly value="(orc_[^"]+)"', html).group(1)
    assert plain.startswith(token.prefix)
    assert "shown only once" in html
    assert token.token_hash != plain and plain not in token.token_hash
    # The token authenticates the API.
    assert ApiClient(plain).get("me/").json()["username"] == "owner"
    # Reloading the page does not show it again.
    again = owner_client.get(URL).content.decode()
    assert plain not in again
    assert "laptop" in again and token.prefix in again


def test_name_is_required(owner_client):
    response = owner_client.post(URL, {"name": "  "})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not AccessToken.objects.exists()


def test_revoke(owner_client, owner):
    token, plain = AccessToken.issue(owner, "ci")
    response = owner_client.post(reverse("accounts:revoke_token", args=[token.pk]), follow=True)
    assert response.status_code == 200
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiClient(plain).get("me/").status_code == 401


def test_revoke_needs_post(owner_client, owner):
    token, _ = AccessToken.issue(owner, "ci")
    assert owner_client.get(reverse("accounts:revoke_token", args=[token.pk])).status_code == 405


def test_other_user_cannot_revoke_or_see(other_client, owner):
    token, plain = AccessToken.issue(owner, "owner-secret-name")
    response = other_client.post(reverse("accounts:revoke_token", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert "owner-secret-name" not in other_client.get(URL).content.decode()
