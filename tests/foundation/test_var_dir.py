"""Settings only read; the state folder and its secret key are made by a separate step."""

from __future__ import annotations

import subprocess
import sys

from orchestration.var_dir import prepare
from tests.conftest import ROOT


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "orchestration.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_importing_settings_writes_nothing(tmp_path):
    state = tmp_path / "state"
    result = _python(
        "import django; django.setup()", ORCHESTRATION_VAR_DIR=str(state), SECRET_KEY="k"
    )
    assert result.returncode == 0, result.stderr
    assert not state.exists()


def test_a_missing_key_says_how_to_make_it(tmp_path):
    result = _python("import django; django.setup()", ORCHESTRATION_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr
    assert "python -m orchestration.var_dir" in result.stderr


def test_prepare_makes_one_private_key_and_keeps_it(tmp_path):
    state = prepare(tmp_path / "state")
    key_file = state / "secret_key"
    first = key_file.read_text()
    assert len(first) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    prepare(state)
    assert key_file.read_text() == first
    result = _python(
        "from django.conf import settings; print(settings.SECRET_KEY)",
        ORCHESTRATION_VAR_DIR=str(state),
    )
    assert result.stdout.strip() == first


def test_the_module_prepares_the_configured_folder(tmp_path):
    state = tmp_path / "from-env"
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.var_dir"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "ORCHESTRATION_VAR_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (state / "secret_key").exists()
