"""ingest_upload(): validation before storage, and a failed upload stores nothing."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

from orchestration.catalog import tasks
from orchestration.catalog.ingest import ingest_upload, ingest_uploaded_file, upload_limits
from orchestration.catalog.models import BuildStatus, Model, ModelVersion
from orchestration.catalog.upload import UploadError, UploadLimits
from tests.catalog_upload.archives import (
    EXAMPLES,
    assert_nothing_stored,
    config,
    make_targz,
    make_zip,
    model_files,
    stored_files,
    write_folder,
    zip_bytes,
)


@pytest.fixture(autouse=True)
def _upload_tmp(settings, tmp_path):
    """Temporary folders of ingest go here, so each test can check they were removed."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    yield folder
    assert list(folder.iterdir()) == []


@pytest.fixture
def no_build():
    with mock.patch.object(tasks.build_model_version, "delay") as delay:
        yield delay


def expect_refused(owner, source: Path, file: str, fragment: str, filename=None) -> UploadError:
    with pytest.raises(UploadError) as caught:
        ingest_upload(owner=owner, source=source, filename=filename)
    error = caught.value
    assert error.file == file, str(error)
    assert fragment in error.message, str(error)
    assert_nothing_stored()
    return error


# --------------------------------------------------------------------------- content

BAD_CONTENT = {
    "no config.yaml": (dict(config_dot_yaml=None), "config.yaml", "not found"),
    "yaml does not parse": (
        dict(config_dot_yaml="model:\n  id: demo\n   bad: indent\n"),
        "config.yaml",
        "is not valid YAML at line 3",
    ),
    "empty config": (dict(config_dot_yaml=""), "config.yaml", "is empty"),
    "no model section": (
        dict(config_dot_yaml="inference_compute_info: {}\n"),
        "config.yaml",
        "'model' section is missing",
    ),
    "model.id missing": (
        dict(config_dot_yaml="model:\n  description: x\n"),
        "config.yaml",
        "model.id is missing",
    ),
    "model.id malformed": (
        dict(config_dot_yaml="model:\n  id: Bad Id!\n"),
        "config.yaml",
        "model.id 'Bad Id!' is not valid",
    ),
    "model.id not text": (dict(config_dot_yaml="model:\n  id: 123\n"), "config.yaml", "quotes"),
    "model.id reserved by the portal": (
        dict(config_dot_yaml=config("upload")),
        "config.yaml",
        "model.id 'upload' is reserved",
    ),
    "unknown key": (
        dict(config_dot_yaml=config(extra="checkpoints: {}\n")),
        "config.yaml",
        "unknown key 'checkpoints'",
    ),
    "unknown compute key": (
        dict(config_dot_yaml=config(extra="inference_compute_info: {gpus: 1}\n")),
        "config.yaml",
        "unknown key 'inference_compute_info.gpus'",
    ),
    "no 1/model.py": ({"1__model_dot_py": None}, "1/model.py", "not found"),
    "model.py does not parse": (
        {"1__model_dot_py": "class M:\n    def predict(self, inputs)\n        return inputs\n"},
        "1/model.py",
        "syntax error at line 2",
    ),
    "model.py without a predict class": (
        {"1__model_dot_py": "def predict(inputs):\n    return inputs\n"},
        "1/model.py",
        "no class with a predict method",
    ),
    "model.py that would run on import is only parsed": (
        {"1__model_dot_py": "raise SystemExit('imported!')\n"},
        "1/model.py",
        "no class with a predict method",
    ),
    "bad cpu_limit": (
        dict(config_dot_yaml=config(extra="inference_compute_info: {cpu_limit: lots}\n")),
        "config.yaml",
        "inference_compute_info.cpu_limit: 'lots' is not a CPU quantity",
    ),
    "bad cpu_memory": (
        dict(config_dot_yaml=config(extra="inference_compute_info: {cpu_memory: 500m}\n")),
        "config.yaml",
        "did you mean 500M or 500Mi?",
    ),
    "requirement pip cannot parse": (
        dict(requirements_dot_txt="numpy>>=1\n"),
        "requirements.txt",
        "line 1: 'numpy>>=1' is not a valid requirement",
    ),
    "accelerators beyond the column": (
        dict(
            config_dot_yaml=config(extra="inference_compute_info: {num_accelerators: 5000000000}\n")
        ),
        "config.yaml",
        "a replica can have at most 64",
    ),
}


@pytest.mark.parametrize("kind", ["folder", "zip", "tar.gz"])
@pytest.mark.parametrize(("changes", "file", "fragment"), BAD_CONTENT.values(), ids=BAD_CONTENT)
def test_bad_content_is_refused_and_nothing_stored(
    owner, no_build, tmp_path, kind, changes, file, fragment
):
    files = model_files(**changes)
    if kind == "folder":
        source = write_folder(tmp_path / "model", files)
    elif kind == "zip":
        source = make_zip(tmp_path / "model.zip", files)
    else:
        source = make_targz(tmp_path / "model.tar.gz", files)
    error = expect_refused(owner, source, file, fragment)
    assert str(error) == f"{error.file}: {error.message}"
    no_build.assert_not_called()


# --------------------------------------------------------------------------- hostile archives


def zip_with(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


def tar_member(name: str, kind: bytes, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def test_zip_path_traversal(owner, tmp_path):
    source = zip_with(tmp_path / "m.zip", [*model_files().items(), ("../evil.py", b"x")])
    expect_refused(owner, source, "../evil.py", "points outside the upload")
    assert not (tmp_path / "evil.py").exists()


def test_zip_absolute_path(owner, tmp_path):
    source = zip_with(tmp_path / "m.zip", [*model_files().items(), ("/etc/evil", b"x")])
    expect_refused(owner, source, "/etc/evil", "is an absolute path")


def test_tar_absolute_path(owner, tmp_path):
    source = make_targz(tmp_path / "m.tar.gz", {**model_files(), "/tmp/evil": b"x"})
    expect_refused(owner, source, "/tmp/evil", "is an absolute path")


def test_tar_traversal(owner, tmp_path):
    source = make_targz(tmp_path / "m.tar.gz", {**model_files(), "1/../../evil": b"x"})
    expect_refused(owner, source, "1/../../evil", "points outside the upload")


def test_zip_symlink(owner, tmp_path):
    link = zipfile.ZipInfo("1/passwd")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    source = zip_with(tmp_path / "m.zip", [*model_files().items(), (link, b"/etc/passwd")])
    expect_refused(owner, source, "1/passwd", "is a symbolic link")


def test_tar_symlink(owner, tmp_path):
    extra = (tar_member("1/passwd", tarfile.SYMTYPE, linkname="/etc/passwd"),)
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra)
    expect_refused(owner, source, "1/passwd", "is a symbolic link")


def test_tar_hardlink(owner, tmp_path):
    extra = (tar_member("1/hard", tarfile.LNKTYPE, linkname="config.yaml"),)
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra)
    expect_refused(owner, source, "1/hard", "is a hard link")


def test_tar_device_file(owner, tmp_path):
    extra = (tar_member("1/null", tarfile.CHRTYPE, devmajor=1, devminor=3),)
    source = make_targz(tmp_path / "m.tar.gz", model_files(), extra)
    expect_refused(owner, source, "1/null", "is a device file")


def test_folder_symlink(owner, tmp_path):
    source = write_folder(tmp_path / "model", model_files())
    (source / "1" / "secret").symlink_to("/etc/passwd")
    expect_refused(owner, source, "1/secret", "is a symbolic link")


def test_too_many_files_uses_the_setting(owner, settings, tmp_path):
    settings.UPLOAD_MAX_FILES = 5
    assert upload_limits().max_files == 5
    files = model_files(**{f"1__data{i}_dot_txt": "x" for i in range(5)})
    source = make_zip(tmp_path / "many.zip", files)
    expect_refused(owner, source, "many.zip", "more than 5 files")


def test_zip_bomb_stops_at_the_size_setting(owner, settings, tmp_path):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    files = model_files(**{"1__weights_dot_bin": b"\0" * (8 * 1024 * 1024)})
    source = make_zip(tmp_path / "bomb.zip", files)
    assert source.stat().st_size < 100_000
    expect_refused(owner, source, "1/weights.bin", "unpacks to more than 1Mi")


def test_archive_over_the_size_setting(owner, settings, tmp_path):
    settings.UPLOAD_MAX_BYTES = 1000
    source = make_zip(
        tmp_path / "big.zip", model_files(**{"1__noise_dot_bin": bytes(range(256)) * 40})
    )
    expect_refused(owner, source, "big.zip", "the largest accepted archive")


def test_not_an_archive(owner, tmp_path):
    source = tmp_path / "upload.bin"
    source.write_bytes(b"just some text, not an archive")
    expect_refused(owner, source, "model.zip", "is not a .zip or .tar.gz archive", "model.zip")


def test_empty_archive(owner, tmp_path):
    source = make_zip(tmp_path / "empty.zip", {})
    expect_refused(owner, source, "empty.zip", "holds no files")


def test_missing_source(owner, tmp_path):
    expect_refused(owner, tmp_path / "nowhere.zip", "nowhere.zip", "does not exist")


def test_limits_never_exceed_the_size_setting(settings):
    settings.UPLOAD_MAX_BYTES = 10
    settings.UPLOAD_MAX_FILES = 7
    assert upload_limits() == UploadLimits(
        max_files=7, max_total_bytes=10, max_file_bytes=10, max_archive_bytes=10
    )
    settings.UPLOAD_MAX_BYTES = 10 * 2**30
    limits = upload_limits()
    assert limits.max_total_bytes == 10 * 2**30
    assert limits.max_archive_bytes == UploadLimits().max_archive_bytes


# --------------------------------------------------------------------------- success


def test_upload_creates_model_version_and_file(owner, no_build, tmp_path):
    source = make_zip(tmp_path / "demo.zip", model_files(), prefix="demo/")
    version = ingest_upload(owner=owner, source=source)
    version.refresh_from_db()
    model = version.model
    assert (model.owner, model.slug, model.description) == (owner, "demo", "A demo model")
    assert model.model_type_id == "text-classifier"
    assert version.number == 1
    assert version.created_by == owner
    assert version.build_status == BuildStatus.QUEUED
    assert version.cpu_request == Decimal("0.500")
    assert version.memory_request_bytes == 256 * 2**20
    assert version.num_accelerators == 0
    assert version.config["model"]["id"] == "demo"
    assert len(version.content_hash) == 64
    assert stored_files() == [Path(version.upload.path)]
    with version.upload.open("rb") as fh, tarfile.open(fileobj=fh, mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [
            "1/model.py",
            "1/words.txt",
            "config.yaml",
            "requirements.txt",
        ]


def test_config_without_compute_leaves_requests_empty(owner, no_build, tmp_path):
    source = write_folder(tmp_path / "m", model_files(config_dot_yaml="model:\n  id: bare\n"))
    version = ingest_upload(owner=owner, source=source)
    assert version.cpu_request is None
    assert version.memory_request_bytes is None
    assert version.model.description == ""


def test_same_id_again_adds_version_two(owner, no_build, tmp_path):
    first = ingest_upload(owner=owner, source=write_folder(tmp_path / "a", model_files()))
    changed = model_files(
        config_dot_yaml=config(description="Better demo"), **{"1__words_dot_txt": "great 2\n"}
    )
    second = ingest_upload(owner=owner, source=write_folder(tmp_path / "b", changed))
    assert (first.number, second.number) == (1, 2)
    assert first.model_id == second.model_id
    assert first.version_id != second.version_id
    assert first.content_hash != second.content_hash
    assert Model.objects.count() == 1
    assert Model.objects.get().description == "Better demo"
    # The model type was not given again: the earlier one stays.
    assert Model.objects.get().model_type_id == "text-classifier"
    assert len(stored_files()) == 2


def test_failed_second_version_leaves_the_first_alone(owner, no_build, tmp_path):
    ingest_upload(owner=owner, source=write_folder(tmp_path / "a", model_files()))
    bad = model_files(config_dot_yaml=config(description="Changed"), **{"1__model_dot_py": None})
    with pytest.raises(UploadError):
        ingest_upload(owner=owner, source=write_folder(tmp_path / "b", bad))
    assert list(ModelVersion.objects.values_list("number", flat=True)) == [1]
    assert Model.objects.get().description == "A demo model"
    assert len(stored_files()) == 1


def test_same_id_of_another_owner_is_another_model(owner, other_user, no_build, tmp_path):
    source = write_folder(tmp_path / "a", model_files())
    mine = ingest_upload(owner=owner, source=source)
    theirs = ingest_upload(owner=other_user, source=source)
    assert mine.model_id != theirs.model_id
    assert (mine.number, theirs.number) == (1, 1)


def test_build_is_queued_on_commit(owner, tmp_path, django_capture_on_commit_callbacks):
    source = write_folder(tmp_path / "a", model_files())
    with mock.patch.object(tasks.build_model_version, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            version = ingest_upload(owner=owner, source=source)
        assert len(callbacks) == 1
        delay.assert_not_called()  # not before the commit
        callbacks[0]()
    delay.assert_called_once_with(version.pk)


def test_broker_failure_after_commit_keeps_the_upload(
    owner, tmp_path, django_capture_on_commit_callbacks
):
    source = write_folder(tmp_path / "a", model_files())
    with (
        mock.patch.object(tasks.build_model_version, "delay", side_effect=OSError("no broker")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        version = ingest_upload(owner=owner, source=source)
    version.refresh_from_db()
    assert version.build_status == BuildStatus.QUEUED
    assert "Could not queue the image build: no broker" in version.build_log
    assert len(stored_files()) == 1


def test_failure_after_the_file_was_written_removes_it(owner, no_build, tmp_path):
    source = write_folder(tmp_path / "a", model_files())
    with (
        mock.patch.object(ModelVersion, "save", side_effect=RuntimeError("database down")),
        pytest.raises(RuntimeError, match="database down"),
    ):
        ingest_upload(owner=owner, source=source)
    assert_nothing_stored()  # the new model was rolled back, the file deleted
    no_build.assert_not_called()


def test_failure_on_second_version_keeps_first_file(owner, no_build, tmp_path):
    first = ingest_upload(owner=owner, source=write_folder(tmp_path / "a", model_files()))
    with (
        mock.patch.object(ModelVersion, "save", side_effect=RuntimeError("database down")),
        pytest.raises(RuntimeError),
    ):
        ingest_upload(owner=owner, source=write_folder(tmp_path / "b", model_files()))
    assert stored_files() == [Path(first.upload.path)]
    assert ModelVersion.objects.count() == 1


def test_sentiment_example(owner, no_build):
    version = ingest_upload(owner=owner, source=EXAMPLES / "sentiment")
    assert version.model.slug == "sentiment"
    assert version.cpu_request == Decimal("0.5")
    assert version.memory_request_bytes == 256 * 2**20


# --------------------------------------------------------------------------- UploadedFile


def test_ingest_in_memory_uploaded_file(owner, no_build):
    uploaded = SimpleUploadedFile("demo.zip", zip_bytes(model_files()), "application/zip")
    version = ingest_uploaded_file(owner=owner, uploaded=uploaded)
    assert version.model.slug == "demo"


def test_ingest_temporary_uploaded_file(owner, no_build):
    data = zip_bytes(model_files())
    uploaded = TemporaryUploadedFile("demo.zip", "application/zip", len(data), None)
    uploaded.write(data)
    uploaded.flush()
    try:
        version = ingest_uploaded_file(owner=owner, uploaded=uploaded)
    finally:
        uploaded.close()
    assert version.model.slug == "demo"


def test_uploaded_file_error_names_the_browser_file(owner):
    uploaded = SimpleUploadedFile("C:\\fakepath\\my model.zip", b"not a zip", "application/zip")
    with pytest.raises(UploadError) as caught:
        ingest_uploaded_file(owner=owner, uploaded=uploaded)
    assert str(caught.value) == "my model.zip: is not a .zip or .tar.gz archive"
    assert_nothing_stored()


def test_write_that_fails_halfway_leaves_no_file(owner, no_build, tmp_path):
    from django.core.files.storage import FileSystemStorage

    real_save = FileSystemStorage._save

    def save_then_fail(self, name, content):
        real_save(self, name, content)  # the bytes reach the disk...
        raise OSError(28, "No space left on device")  # ...then the write fails

    source = write_folder(tmp_path / "a", model_files())
    with (
        mock.patch.object(FileSystemStorage, "_save", save_then_fail),
        pytest.raises(OSError, match="No space left"),
    ):
        ingest_upload(owner=owner, source=source)
    assert_nothing_stored()
