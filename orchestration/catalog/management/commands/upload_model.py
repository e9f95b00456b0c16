"""manage.py upload_model PATH --owner USER [--wait]: upload a model from the command line."""

from __future__ import annotations

import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from orchestration.catalog import tasks
from orchestration.catalog.ingest import ingest_upload
from orchestration.catalog.models import BuildStatus, ModelVersion
from orchestration.catalog.upload import UploadError


class Command(BaseCommand):
    help = (
        "Upload a model folder, .zip or .tar.gz (see SPEC.md, 'Model upload format') for a "
        "user: creates the model, or a new version when its id exists, and queues the image "
        "build. With --wait, builds the image here (or waits for the worker building it) and "
        "exits 1 when the build fails."
    )

    poll_interval = 1.0

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="model folder, .zip or .tar.gz")
        parser.add_argument("--owner", required=True, help="username of the model's owner")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="build the image now (or wait for the worker building it) and report the result",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=3600.0,
            help="with --wait: seconds to wait for a worker's build (default 3600)",
        )

    def handle(self, *args, **options) -> None:
        owner = self._owner(options["owner"])
        path = Path(options["path"]).expanduser()
        try:
            version = ingest_upload(owner=owner, source=path)
        except UploadError as err:
            raise CommandError(str(err)) from None
        model = version.model
        self.stdout.write(f"Model: {model.slug}")
        self.stdout.write(f"Version: {version.version_id} (number {version.number})")
        self.stdout.write(f"Page: {version.get_absolute_url()}")
        if not options["wait"]:
            version.refresh_from_db(fields=["build_status"])
            self.stdout.write(f"Build status: {version.build_status}")
            return
        version = self._wait(version, options["timeout"])
        self.stdout.write(f"Build status: {version.build_status}")
        if version.build_status == BuildStatus.READY:
            self.stdout.write(self.style.SUCCESS(f"Image: {version.image}"))
            return
        tail = "\n".join(version.build_log.splitlines()[-40:])
        if tail:
            self.stderr.write(tail)
        if version.build_status == BuildStatus.FAILED:
            raise CommandError(
                f"The image build of {model.slug} version {version.number} failed "
                "(the build log is above and on the version page).",
                returncode=1,
            )
        raise CommandError(
            f"The image build of {model.slug} version {version.number} did not finish "
            f"(status {version.build_status}); a worker will retry it.",
            returncode=1,
        )

    def _owner(self, username: str):
        users = get_user_model()
        try:
            return users._default_manager.get_by_natural_key(username)
        except users.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

    def _wait(self, version: ModelVersion, timeout: float) -> ModelVersion:
        version.refresh_from_db()
        if version.build_status == BuildStatus.QUEUED:
            # Build here. The task claims the version first, so when a worker already has
            # it this returns at once; when this claims it, the worker's copy does nothing.
            self.stdout.write("Building the image…")
            tasks.build_model_version.apply(args=(version.pk,))
            version.refresh_from_db()
        deadline = time.monotonic() + timeout
        while version.build_status == BuildStatus.BUILDING:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Gave up waiting after {timeout:g}s; the build is still running "
                    f"(see {version.get_absolute_url()}).",
                    returncode=1,
                )
            time.sleep(self.poll_interval)
            version.refresh_from_db()
        return version
