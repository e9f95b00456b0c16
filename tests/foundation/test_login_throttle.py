"""Repeated failed logins are throttled per username and per client address (django-axes),
on the portal login and the admin login alike."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def _login(path: str, username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_failures_for_one_username_lock_it_out(owner, admin_user, limit, path):
    user, password = ("admin", "admin-pass-123") if "admin" in path else ("owner", "owner-pass-123")
    codes = [_login(path, user, "wrong", f"10.0.1.{n}").status_code for n in range(limit)]
    # Each from another address: the username alone is counted; the last failure locks.
    assert codes == [200] * (limit - 1) + [429], codes
    locked = _login(path, user, password, "10.0.2.1")  # even the right password
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert int(locked["Retry-After"]) == 15 * 60
    # Another user from a clean address still logs in.
    other = "owner" if user == "admin" else "admin"
    other_password = "owner-pass-123" if other == "owner" else "admin-pass-123"
    assert _login("/login/", other, other_password, "10.0.3.1").status_code == 302


def test_failures_from_one_address_lock_it_out(owner, other_user, limit):
    codes = [
        _login("/login/", f"nobody-{n}", "wrong", "10.0.9.9").status_code for n in range(limit)
    ]
    assert codes == [200] * (limit - 1) + [429], codes
    assert _login("/login/", "owner", "owner-pass-123", "10.0.9.9").status_code == 429
    assert _login("/login/", "owner", "owner-pass-123", "10.0.9.10").status_code == 302


def test_a_success_resets_the_username_count(owner, limit):
    for _ in range(limit - 1):
        _login("/login/", "owner", "wrong", "10.0.4.1")
    assert _login("/login/", "owner", "owner-pass-123", "10.0.4.2").status_code == 302
    for _ in range(limit - 1):
        _login("/login/", "owner", "wrong", "10.0.4.3")
    assert _login("/login/", "owner", "owner-pass-123", "10.0.4.4").status_code == 302
