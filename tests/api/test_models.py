"""Models and versions through the API: upload, list, get, delete."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from orchestration.catalog.models import Model, ModelVersion

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tar_gz(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" not in path.parts:
                archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def upload(api, data: bytes, name: str = "model.tar.gz"):
    return api.client.post(
        "/api/v1/models/",
        {"archive": SimpleUploadedFile(name, data, "application/gzip")},
        headers=api.headers,
    )


def test_upload_creates_model_and_version(
    owner_api, owner, queued_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(owner_api, tar_gz(EXAMPLES / "noop"))
    assert response.status_code == 201, response.content
    out = response.json()
    assert out["model_id"] == "noop" and out["number"] == 1
    assert out["build_status"] == "queued" and "build_log" in out
    assert out["config"]["model"]["id"] == "noop"
    assert out["cpu_request"] == 0.25 and out["memory_request_bytes"] == 128 * 1024**2
    version = ModelVersion.objects.get(version_id=out["id"])
    assert version.model.owner == owner
    assert queued_tasks == [("build_model_version", (version.pk,))]

    again = upload(owner_api, tar_gz(EXAMPLES / "noop")).json()
    assert again["number"] == 2 and again["model_id"] == "noop"
    listed = owner_api.get("models/noop/").json()
    assert listed["versions"] == 2 and listed["latest_version"]["number"] == 2
    assert listed["latest_ready_version"] is None


def test_bad_archive_is_400_on_archive(owner_api):
    response = upload(owner_api, b"this is not an archive", "model.tar.gz")
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    assert error["field"] == "archive" and error["message"]
    assert not Model.objects.exists()


def test_archive_without_config_is_400(owner_api, tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "model.py").write_text(
        "class M:\n    def predict(self, inputs):\n        return inputs\n"
    )
    response = upload(owner_api, tar_gz(tmp_path))
    assert response.status_code == 400
    assert "config.yaml" in response.json()["detail"]


def test_missing_archive_field_is_400(owner_api):
    response = owner_api.client.post("/api/v1/models/", {}, headers=owner_api.headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "archive"


def test_oversized_archive_is_413(owner_api, settings):
    settings.UPLOAD_MAX_BYTES = 10
    response = upload(owner_api, tar_gz(EXAMPLES / "noop"))
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "archive"


def test_list_and_get_models(owner_api, owner, make_model):
    make_model(owner, "sentiment")
    make_model(owner, "sentiment", status="building")
    make_model(owner, "iris")
    models = owner_api.items("models/")
    assert [m["id"] for m in models] == ["iris", "sentiment"]
    sentiment = owner_api.get("models/sentiment/").json()
    assert sentiment["versions"] == 2
    assert sentiment["latest_version"]["build_status"] == "building"
    assert sentiment["latest_ready_version"]["number"] == 1
    assert sentiment["deployments"] == []


def test_versions_with_build_log(owner_api, owner, make_model):
    _, v1 = make_model(owner, "sentiment")
    ModelVersion.objects.filter(pk=v1.pk).update(build_log="Step 1/3\nok\n", image="orch/s:1")
    _, v2 = make_model(owner, "sentiment", status="failed")
    versions = owner_api.items("models/sentiment/versions/")
    assert [v["number"] for v in versions] == [2, 1]
    assert "build_log" not in versions[0]
    detail = owner_api.get(f"models/sentiment/versions/{v1.version_id}/").json()
    assert detail["build_log"] == "Step 1/3\nok\n" and detail["image"] == "orch/s:1"
    assert owner_api.get("models/sentiment/versions/2/").json()["build_status"] == "failed"
    assert owner_api.get("models/sentiment/versions/99/").status_code == 404
    assert owner_api.get("models/sentiment/versions/zz-top/").status_code == 404


def test_delete_model(owner_api, owner, make_model, django_capture_on_commit_callbacks):
    _, version = make_model(owner, "sentiment")
    stored = Path(version.upload.path)
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.delete("models/sentiment/").status_code == 204
    assert not Model.objects.exists()
    assert not stored.exists()


def test_model_with_deployment_cannot_be_deleted(
    owner_api, owner, compute, ready_model, make_deployment
):
    make_deployment(owner, ready_model.model, ready_model.version, compute.nodepool, "dep")
    response = owner_api.delete("models/sentiment/")
    assert response.status_code == 409
    assert "dep" in response.json()["detail"]
    assert owner_api.get("models/sentiment/").json()["deployments"] == ["dep"]
