import pytest


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """The users of tests/conftest.py get passwords; a fast hasher keeps setup quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
