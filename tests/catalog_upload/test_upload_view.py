"""Models → Upload in the portal."""

from __future__ import annotations

import io
import zipfile
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from orchestration.catalog import tasks
from orchestration.catalog.models import BuildStatus, Model, ModelVersion
from orchestration.catalog.upload import load_upload
from tests.catalog_upload.archives import (
    EXAMPLES,
    assert_nothing_stored,
    folder_zip,
    model_files,
    stored_files,
    zip_bytes,
)

URL = "/models/upload/"


@pytest.fixture(autouse=True)
def no_build():
    with mock.patch.object(tasks.build_model_version, "delay") as delay:
        yield delay


def post(client, name: str, data: bytes, **extra):
    upload = SimpleUploadedFile(name, data, "application/zip")
    return client.post(URL, {"archive": upload}, **extra)


def test_url_name():
    assert reverse("models:upload") == URL


def test_form_page(owner_client):
    response = owner_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert '<label for="id_archive">Model archive (.zip or .tar.gz)</label>' in html
    assert 'type="file" name="archive"' in html and 'id="id_archive"' in html
    assert '<button class="btn primary" type="submit">Upload</button>' in html
    assert "config.yaml" in html and "requirements.txt" in html and "1/model.py" in html
    assert f'href="{URL}?example=sentiment"' in html
    assert 'href="/models/"' in html  # breadcrumbs: Models / Upload


def test_visitor_is_sent_to_login(visitor_client):
    for response in (visitor_client.get(URL), post(visitor_client, "m.zip", b"x")):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert_nothing_stored()


def test_upload_sentiment_zip_redirects_to_the_version_page(owner, owner_client, no_build):
    data = folder_zip(EXAMPLES / "sentiment", prefix="sentiment/")
    response = post(owner_client, "sentiment.zip", data)
    version = ModelVersion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == version.get_absolute_url()
    assert response["Location"] == reverse("models:version", args=["sentiment", version.version_id])
    assert version.model.owner == owner
    assert version.created_by == owner
    assert version.build_status == BuildStatus.QUEUED
    assert len(stored_files()) == 1
    page = owner_client.get(response["Location"])
    assert page.status_code == 200
    assert "Uploaded sentiment version 1" in page.content.decode()


def test_upload_again_adds_a_version(owner_client):
    post(owner_client, "demo.zip", zip_bytes(model_files()))
    response = post(owner_client, "demo.zip", zip_bytes(model_files()))
    assert response.status_code == 302
    assert list(ModelVersion.objects.order_by("number").values_list("number", flat=True)) == [
        1,
        2,
    ]
    assert Model.objects.count() == 1


BAD = {
    "not an archive": ("model.zip", b"hello", "model.zip: is not a .zip or .tar.gz archive"),
    "no config": (
        "m.zip",
        zip_bytes(model_files(config_dot_yaml=None)),
        "config.yaml: not found",
    ),
    "model.id missing": (
        "m.zip",
        zip_bytes(model_files(config_dot_yaml="model:\n  description: x\n")),
        "config.yaml: model.id is missing",
    ),
    "traversal": (
        "evil.zip",
        zip_bytes({**model_files(), "../evil.py": b"x"}),
        "../evil.py: points outside the upload",
    ),
    "no predict": (
        "m.zip",
        zip_bytes(model_files(**{"1__model_dot_py": "x = 1\n"})),
        "1/model.py: ",
    ),
}


@pytest.mark.parametrize(("name", "data", "text"), BAD.values(), ids=BAD)
def test_bad_archive_shows_the_error_beside_the_field(owner_client, no_build, name, data, text):
    response = post(owner_client, name, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert escape(text) in html
    assert 'class="field has-error"' in html
    assert '<ul class="errorlist" id="id_archive_error">' in html
    assert_nothing_stored()
    no_build.assert_not_called()


def test_no_file_chosen(owner_client):
    response = owner_client.post(URL, {})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert_nothing_stored()


def test_example_download_is_a_valid_upload(owner_client, tmp_path):
    response = owner_client.get(URL, {"example": "sentiment"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert 'filename="sentiment.zip"' in response["Content-Disposition"]
    archive = tmp_path / "sentiment.zip"
    archive.write_bytes(response.content)
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert "sentiment/1/model.py" in zf.namelist()
    assert load_upload(archive, tmp_path / "x").model_id == "sentiment"


@pytest.mark.parametrize("name", ["nope", "../examples/sentiment", "", "."])
def test_unknown_example_is_404(owner_client, name):
    assert owner_client.get(URL, {"example": name}).status_code == 404
