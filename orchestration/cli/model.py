"""`orchestrate model ...`: models, their versions, and uploading one (waiting for its
image build)."""

from __future__ import annotations

import argparse
import io
import tarfile
import time
from pathlib import Path

from orchestration.cli.arguments import Commands
from orchestration.cli.client import (
    EXIT_API,
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Client,
    CliError,
    q,
)
from orchestration.cli.output import Output, deleted, render_fields, short_time, show

MODEL_COLUMNS = [
    ("ID", "id"),
    ("TYPE", "model_type_id"),
    ("VERSIONS", "versions"),
    (
        "LATEST",
        lambda r: (
            f"v{r['latest_version']['number']} {r['latest_version']['build_status']}"
            if r["latest_version"]
            else None
        ),
    ),
    ("DEPLOYMENTS", lambda r: ", ".join(r["deployments"]) or None),
    ("DESCRIPTION", "description"),
]
VERSION_COLUMNS = [
    ("VERSION", lambda r: f"v{r['number']}"),
    ("ID", "id"),
    ("BUILD", "build_status"),
    ("IMAGE", "image"),
    ("CREATED", lambda r: short_time(r["created_at"])),
]
# Left out of a packed folder: tool and VCS litter, never part of a model.
SKIPPED_NAMES = {"__pycache__", ".git", ".hg", ".svn", ".DS_Store", ".venv", ".mypy_cache"}
# A flaky connection while polling a build is retried this many times in a row.
POLL_CONNECTION_RETRIES = 5


def list_models(client: Client, out: Output, args) -> int:
    show(out, client.get_all("models/"), MODEL_COLUMNS)
    return EXIT_OK


def get_model(client: Client, out: Output, args) -> int:
    show(out, client.get(f"models/{q(args.id)}/"), MODEL_COLUMNS, single=True)
    return EXIT_OK


def list_versions(client: Client, out: Output, args) -> int:
    show(out, client.get_all(f"models/{q(args.id)}/versions/"), VERSION_COLUMNS)
    return EXIT_OK


def delete_model(client: Client, out: Output, args) -> int:
    client.delete(f"models/{q(args.id)}/")
    deleted(out, "model", args.id)
    return EXIT_OK


def pack_upload(path: Path) -> tuple[str, bytes]:
    """A folder as an in-memory .tar.gz, or an archive's bytes as they are."""
    if path.is_dir():
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for item in sorted(path.rglob("*")):
                rel = item.relative_to(path)
                if any(part in SKIPPED_NAMES for part in rel.parts) or item.suffix == ".pyc":
                    continue
                if item.is_symlink() or not (item.is_file() or item.is_dir()):
                    continue
                archive.add(item, arcname=rel.as_posix(), recursive=False)
        return f"{path.resolve().name or 'model'}.tar.gz", buffer.getvalue()
    if path.is_file():
        return path.name, path.read_bytes()
    raise CliError(EXIT_USAGE, f"no such folder or archive: {path}")


def upload_model(client: Client, out: Output, args) -> int:
    try:
        name, data = pack_upload(Path(args.path))
    except OSError as exc:
        raise CliError(EXIT_USAGE, f"cannot read {args.path}: {exc}") from None
    out.progress(f"Uploading {name} ({len(data):,} bytes) ...")
    version = client.post("models/", files={"archive": (name, data, "application/octet-stream")})
    out.progress(
        f"Model {version['model_id']} v{version['number']} (version {version['id']}): "
        f"{version['build_status']}"
    )
    if not args.no_wait:
        version = wait_for_build(client, out, version, args)
    show_version(out, version)
    return EXIT_OK


def wait_for_build(client: Client, out: Output, version: dict, args) -> dict:
    """Poll the version until its build is ready; a failed build ends with its log's tail."""
    model_id = version["model_id"]
    deadline = time.monotonic() + args.timeout
    status, printed = version["build_status"], 0
    path = f"models/{q(model_id)}/versions/{q(version['id'])}/"
    failures = 0
    while version["build_status"] not in ("ready", "failed"):
        if time.monotonic() > deadline:
            raise CliError(
                EXIT_TIMEOUT,
                f"timed out after {args.timeout:g}s waiting for the build of {model_id} "
                f"v{version['number']} (still {version['build_status']}); "
                f"check with: orchestrate model versions {model_id}",
            )
        time.sleep(args.interval)
        try:
            version = client.get(path)
            failures = 0
        except CliError as exc:
            failures += 1
            if exc.code != EXIT_CONNECTION or failures >= POLL_CONNECTION_RETRIES:
                raise
            continue
        log = version.get("build_log") or ""
        if args.verbose and len(log) > printed:
            for line in log[printed:].splitlines():
                out.progress(f"  | {line}")
            printed = len(log)
        if version["build_status"] != status:
            status = version["build_status"]
            out.progress(f"Build: {status}")
    if version["build_status"] == "failed":
        tail = "\n".join((version.get("build_log") or "(no build log)").splitlines()[-30:])
        if out.as_json:
            out.json(version)
        raise CliError(
            EXIT_API,
            f"the build of {model_id} v{version['number']} failed; last lines of its log:\n{tail}",
        )
    return version


def show_version(out: Output, version: dict) -> None:
    if out.as_json:
        out.json(version)
        return
    out.line(
        render_fields(
            [
                ("model", version["model_id"]),
                ("version", f"v{version['number']} ({version['id']})"),
                ("build", version["build_status"]),
                ("image", version["image"] or None),
            ]
        )
    )


def register(commands: Commands) -> None:
    group = commands.group("model", "models and their versions")
    group.action("list", list_models, "list models")
    for verb, func, help_text in (
        ("get", get_model, "show a model"),
        ("versions", list_versions, "list a model's versions"),
        ("delete", delete_model, "delete a model and its versions"),
    ):
        group.action(verb, func, help_text).add_argument("id")
    p = group.action(
        "upload", upload_model, "upload a model folder or archive and wait for its build"
    )
    p.add_argument("path", help="a model folder, or a .zip / .tar.gz of one")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the image build")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the build")
    p.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="print the build log as it grows")
