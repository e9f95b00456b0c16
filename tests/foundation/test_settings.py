import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from orchestration import env

ROOT = Path(__file__).resolve().parents[2]


def test_bool_parsing(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env.env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "0")
    assert env.env_bool("X_FLAG", True) is False
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be a boolean"):
        env.env_bool("X_FLAG", False)


def test_int_and_float_parsing(monkeypatch):
    monkeypatch.setenv("X_NUM", "12")
    assert env.env_int("X_NUM", 1) == 12
    monkeypatch.setenv("X_NUM", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be an integer"):
        env.env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env.env_int("X_NUM", 1, minimum=0)
    monkeypatch.setenv("X_NUM", "1.5s")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be a number"):
        env.env_float("X_NUM", 1.0)


def test_list_and_url(monkeypatch):
    monkeypatch.setenv("X_HOSTS", "a.example, b.example,,")
    assert env.env_list("X_HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("X_URL", "ftp://nope")
    with pytest.raises(ImproperlyConfigured, match="X_URL must be a URL"):
        env.env_url("X_URL", "redis://x", schemes=("redis",))


def test_database_url_forms(tmp_path):
    pg = env.parse_database_url(
        "DATABASE_URL",
        "postgresql://u:p%40ss@db.example:6543/app?sslmode=require",
        base_dir=tmp_path,
    )
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "app",
        "u",
        "p@ss",
        "db.example",
        "6543",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    rel = env.parse_database_url("DATABASE_URL", "sqlite:///var/db.sqlite3", base_dir=tmp_path)
    assert rel["NAME"] == str(tmp_path / "var/db.sqlite3")
    absolute = env.parse_database_url("DATABASE_URL", "sqlite:////tmp/x.db", base_dir=tmp_path)
    assert absolute["NAME"] == "/tmp/x.db"
    for bad, message in [
        ("mysql://x/y", "must start with postgresql://"),
        ("postgresql://host", "must name a database"),
        ("postgresql://host:notaport/db", "invalid port"),
        ("sqlite:///", "must name a SQLite file"),
    ]:
        with pytest.raises(ImproperlyConfigured, match=message):
            env.parse_database_url("DATABASE_URL", bad, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "perhaps"),
        ("DATABASE_URL", "mysql://nope/db"),
        ("CELERY_BROKER_URL", "kafka://x"),
        ("DOCKER_URL", "docker.sock"),
        ("UPLOAD_MAX_FILES", "many"),
        ("API_MAX_PAGE_SIZE", "5"),  # below the default page size of 100
        ("DOCKER_TLS_CA_CERT", "/no/such/ca.pem"),
        ("DOCKER_TLS_CLIENT_CERT", "/etc/hostname"),  # a certificate without its key
    ],
)
def test_malformed_environment_stops_startup(name, value):
    """A real start-up (`manage.py check`) fails with a message naming the variable."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", name: value, "ORCHESTRATION_VAR_DIR": str(ROOT / "var")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


def test_tls_for_tcp_engines_comes_from_settings(settings):
    from orchestration.docker_engine import TLSOptions, default_tls

    assert default_tls("tcp://10.0.0.5:2376") is None
    settings.DOCKER_TLS_CA_CERT = "/etc/orchestration/ca.pem"
    settings.DOCKER_TLS_CLIENT_CERT = "/etc/orchestration/cert.pem"
    settings.DOCKER_TLS_CLIENT_KEY = "/etc/orchestration/key.pem"
    assert default_tls("tcp://10.0.0.5:2376") == TLSOptions(
        ca_cert="/etc/orchestration/ca.pem",
        client_cert="/etc/orchestration/cert.pem",
        client_key="/etc/orchestration/key.pem",
    )
    # The local socket never uses TLS.
    assert default_tls("unix:///var/run/docker.sock") is None


PRODUCTION_TLS = {
    "SECRET_KEY": "k3Vq8-production-secret-with-enough-length-and-variety-7Zp2Xr9mWq4Ls",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "orchestration.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
}


def _check_deploy(tmp_path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "ORCHESTRATION_VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
            **extra,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_the_production_tls_settings(tmp_path):
    result = _check_deploy(tmp_path, PRODUCTION_TLS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_names_what_is_missing_without_them(tmp_path):
    # The same check sees the defaults (so the clean run above is not vacuous).
    result = _check_deploy(tmp_path, {"SECRET_KEY": PRODUCTION_TLS["SECRET_KEY"]})
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_tls_settings_are_read_from_the_environment(tmp_path):
    script = (
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ORCHESTRATION_VAR_DIR": str(tmp_path), **PRODUCTION_TLS},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "True 31536000 True True True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


@pytest.mark.parametrize("value", ["https", "X-Forwarded-Proto:", ": https", "X Proto: https"])
def test_malformed_proxy_ssl_header_stops_startup(monkeypatch, value):
    monkeypatch.setenv("SECURE_PROXY_SSL_HEADER", value)
    with pytest.raises(ImproperlyConfigured, match="SECURE_PROXY_SSL_HEADER must be"):
        env.env_proxy_header("SECURE_PROXY_SSL_HEADER")


def test_malformed_hsts_seconds_stops_startup(tmp_path):
    result = _check_deploy(
        tmp_path, {"SECURE_HSTS_SECONDS": "a year", "SECRET_KEY": PRODUCTION_TLS["SECRET_KEY"]}
    )
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr
