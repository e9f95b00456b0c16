"""End to end: manage.py upload_model --wait builds a real image on the Docker engine."""

from __future__ import annotations

import os
import subprocess
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from orchestration.catalog.models import BuildStatus, ModelVersion
from tests.catalog_upload.archives import EXAMPLES, ROOT
from tests.conftest import requires_docker

pytestmark = [requires_docker, pytest.mark.docker]


@pytest.fixture(scope="session")
def base_image() -> str:
    tag = django_settings.BASE_IMAGE
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode:
        env = {**os.environ, "BASE_IMAGE": tag}
        done = subprocess.run(
            [str(ROOT / "scripts" / "build-base-image")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return tag


@pytest.mark.django_db(transaction=True)
def test_upload_model_wait_builds_the_image(base_image, owner, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the build queued on commit runs inline
    out = StringIO()
    call_command(
        "upload_model", str(EXAMPLES / "sentiment"), "--owner", "owner", "--wait", stdout=out
    )
    version = ModelVersion.objects.get()
    try:
        assert version.build_status == BuildStatus.READY, version.build_log[-3000:]
        assert version.image
        assert "Image built" in version.build_log, version.build_log[-3000:]
        assert f"Image: {version.image}" in out.getvalue()
        assert "Build status: ready" in out.getvalue()
        inspect = subprocess.run(
            ["docker", "image", "inspect", version.image], capture_output=True, text=True
        )
        assert inspect.returncode == 0, inspect.stderr
    finally:
        if version.image:
            subprocess.run(["docker", "image", "rm", version.image], capture_output=True)
