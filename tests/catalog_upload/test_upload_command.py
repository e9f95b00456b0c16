"""manage.py upload_model PATH --owner USER [--wait]."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orchestration.catalog import tasks
from orchestration.catalog.management.commands import upload_model
from orchestration.catalog.models import BuildStatus, ModelVersion
from tests.catalog_upload.archives import (
    EXAMPLES,
    assert_nothing_stored,
    make_zip,
    model_files,
    stored_files,
)


@pytest.fixture(autouse=True)
def no_delay():
    with mock.patch.object(tasks.build_model_version, "delay") as delay:
        yield delay


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("upload_model", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class FakeBuild:
    """Stands in for the build task: finishes the version the way the real one would."""

    def __init__(self, status: str, image: str = "", log: str = "") -> None:
        self.status, self.image, self.log = status, image, log
        self.calls: list[tuple] = []

    def apply(self, args=(), **kwargs):
        self.calls.append(args)
        ModelVersion.objects.filter(pk=args[0]).update(
            build_status=self.status, image=self.image, build_log=self.log
        )

    def delay(self, *args):  # queued on commit; the command's --wait does the work
        pass


def test_upload_prints_ids_and_page(owner, no_delay, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run(str(EXAMPLES / "sentiment"), "--owner", "owner")
    version = ModelVersion.objects.get()
    assert version.model.owner == owner and version.created_by == owner
    assert out.splitlines() == [
        "Model: sentiment",
        f"Version: {version.version_id} (number 1)",
        f"Page: /models/sentiment/versions/{version.version_id}/",
        "Build status: queued",
    ]
    no_delay.assert_called_once_with(version.pk)
    assert len(stored_files()) == 1


def test_second_upload_is_number_two(owner, tmp_path):
    run(str(EXAMPLES / "sentiment"), "--owner", "owner")
    archive = make_zip(
        tmp_path / "s.zip",
        {
            "config.yaml": b"model:\n  id: sentiment\n",
            "1/model.py": b"class M:\n    def predict(self, inputs):\n        return inputs\n",
        },
    )
    out, _ = run(str(archive), "--owner", "owner")
    assert "(number 2)" in out


def test_bad_upload_is_a_command_error(owner, tmp_path):
    source = make_zip(tmp_path / "m.zip", model_files(config_dot_yaml="model:\n  id: Bad!\n"))
    with pytest.raises(CommandError, match=r"^config.yaml: model.id 'Bad!' is not valid"):
        run(str(source), "--owner", "owner")
    assert_nothing_stored()


def test_missing_path_is_a_command_error(owner, tmp_path):
    with pytest.raises(CommandError, match="nowhere: does not exist"):
        run(str(tmp_path / "nowhere"), "--owner", "owner")
    assert_nothing_stored()


def test_unknown_owner(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run(str(EXAMPLES / "sentiment"), "--owner", "ghost")
    assert_nothing_stored()


def test_owner_is_required(owner):
    with pytest.raises(CommandError, match="--owner"):
        run(str(EXAMPLES / "sentiment"))


def test_wait_reports_ready(owner, monkeypatch):
    fake = FakeBuild(BuildStatus.READY, image="orchestration/sentiment:abc-123")
    monkeypatch.setattr(tasks, "build_model_version", fake)
    out, _ = run(str(EXAMPLES / "sentiment"), "--owner", "owner", "--wait")
    version = ModelVersion.objects.get()
    assert fake.calls == [(version.pk,)]
    assert "Build status: ready" in out
    assert "Image: orchestration/sentiment:abc-123" in out


def test_wait_reports_failure_with_exit_code_1(owner, monkeypatch):
    fake = FakeBuild(BuildStatus.FAILED, log="step 1\nBuild failed: pip said no")
    monkeypatch.setattr(tasks, "build_model_version", fake)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="failed") as caught:
        call_command(
            "upload_model",
            str(EXAMPLES / "sentiment"),
            "--owner=owner",
            "--wait",
            stdout=out,
            stderr=err,
        )
    assert caught.value.returncode == 1
    assert "Build status: failed" in out.getvalue()
    assert "Build failed: pip said no" in err.getvalue()


def test_wait_when_the_engine_is_unreachable(owner, monkeypatch):
    fake = FakeBuild(BuildStatus.QUEUED, log="Docker engine unreachable: no socket; will retry")
    monkeypatch.setattr(tasks, "build_model_version", fake)
    err = StringIO()
    with pytest.raises(CommandError, match="did not finish") as caught:
        call_command(
            "upload_model",
            str(EXAMPLES / "sentiment"),
            "--owner=owner",
            "--wait",
            stdout=StringIO(),
            stderr=err,
        )
    assert caught.value.returncode == 1
    assert "Docker engine unreachable" in err.getvalue()


def test_wait_polls_a_build_a_worker_has(owner, monkeypatch):
    """The worker claimed the build first: the command's own run does nothing and it
    polls until the worker is done."""
    fake = FakeBuild(BuildStatus.BUILDING)
    monkeypatch.setattr(tasks, "build_model_version", fake)
    monkeypatch.setattr(upload_model.Command, "poll_interval", 0)
    polls = []

    def worker_finishes(seconds):
        polls.append(seconds)
        if len(polls) == 3:
            ModelVersion.objects.update(build_status=BuildStatus.READY, image="img:tag")

    monkeypatch.setattr(upload_model.time, "sleep", worker_finishes)
    out, _ = run(str(EXAMPLES / "sentiment"), "--owner", "owner", "--wait")
    assert len(polls) == 3
    assert "Build status: ready" in out and "Image: img:tag" in out


def test_wait_gives_up_after_the_timeout(owner, monkeypatch):
    monkeypatch.setattr(tasks, "build_model_version", FakeBuild(BuildStatus.BUILDING))
    monkeypatch.setattr(upload_model.time, "sleep", lambda s: None)
    with pytest.raises(CommandError, match="Gave up waiting after 0s") as caught:
        run(str(EXAMPLES / "sentiment"), "--owner", "owner", "--wait", "--timeout", "0")
    assert caught.value.returncode == 1
