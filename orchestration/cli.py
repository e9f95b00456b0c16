"""`orchestrate`: the command-line client of the management API and the predict API.

Configuration: ORCHESTRATE_URL (the portal's address, default http://127.0.0.1:8000) and
ORCHESTRATE_KEY (a personal access token from the portal's API keys page), or --url/--key.

Output: tables for people, `--json` for scripts (the API's JSON, unchanged). Errors go to
stderr. Exit codes: 0 ok, 1 the API refused or the operation failed (a failed build, a
failed deployment), 2 usage error (bad arguments, unreadable file, no key), 3 cannot reach
the server, 4 timed out waiting (model build, --until-ready).

Standard library and httpx only: no Django here, so the client runs anywhere.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_TIMEOUT = 4

DEFAULT_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1/"
USER_AGENT = "orchestrate-cli/1"

AUTOSCALE_FLAGS = [
    # (API field, option strings, help)
    ("min_replicas", ("--min-replicas",), "minimum replicas (0 allows scale to zero)"),
    ("max_replicas", ("--max-replicas",), "maximum replicas"),
    (
        "scale_down_delay_seconds",
        ("--scale-down-delay", "--scale-down-delay-seconds"),
        "seconds a lower count must be wanted before replicas are removed",
    ),
    (
        "traffic_history_seconds",
        ("--traffic-history", "--traffic-history-seconds", "--scaling-timeframe"),
        "seconds of traffic the autoscaler averages over",
    ),
    (
        "scale_up_delay_seconds",
        ("--scale-up-delay", "--scale-up-delay-seconds"),
        "seconds a higher count must be wanted before replicas are added",
    ),
    (
        "scale_to_zero_delay_seconds",
        ("--scale-to-zero-delay", "--scale-to-zero-delay-seconds"),
        "idle seconds before the last replica goes (min 0)",
    ),
    (
        "target_concurrency",
        ("--target-concurrency",),
        "in-flight requests one replica is meant to carry",
    ),
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
SKIPPED_NAMES = {"__pycache__", ".git", ".hg", ".svn", ".DS_Store", ".venv", ".mypy_cache"}


# --- errors ------------------------------------------------------------------------------


class CliError(Exception):
    """Ends the command with `code`, printing `message` on stderr."""

    def __init__(self, code: int, message: str, body: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.body = body


class ApiError(CliError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(EXIT_API, message, body)
        self.status = status

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip().splitlines()
            return cls(
                status, f"HTTP {status}: {text[0][:200] if text else response.reason_phrase}"
            )
        lines = [f"HTTP {status}"]
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            for error in body["errors"]:
                field = error.get("field") if isinstance(error, dict) else None
                message = error.get("message") if isinstance(error, dict) else str(error)
                lines.append(f"{field}: {message}" if field else str(message))
        elif isinstance(body, dict) and isinstance(body.get("status"), dict):
            # The predict API's Clarifai-style status.
            status_obj = body["status"]
            lines.append(str(status_obj.get("description", "")))
            if status_obj.get("details"):
                lines.append(str(status_obj["details"]))
        elif isinstance(body, dict) and body.get("detail"):
            lines.append(str(body["detail"]))
        message = lines[0] + ": " + lines[1] if len(lines) == 2 else "\n  ".join(lines)
        return cls(status, message, body)


# --- HTTP --------------------------------------------------------------------------------


class Client:
    """A thin httpx client for the server: JSON in and out, errors as CliError."""

    def __init__(self, url: str, key: str, *, timeout: float = 30.0, transport=None):
        base = url.strip().rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        if not base.startswith(("http://", "https://")):
            raise CliError(
                EXIT_USAGE, f"the server URL must start with http:// or https://: {url!r}"
            )
        self.base = base
        self.http = httpx.Client(
            base_url=base,
            headers={
                "Authorization": f"Key {key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs) -> Any:
        url = path if path.startswith("/") else API_PREFIX + path
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise CliError(EXIT_CONNECTION, f"timed out talking to {self.base}: {exc}") from None
        except httpx.TransportError as exc:
            raise CliError(EXIT_CONNECTION, f"cannot reach {self.base}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        if response.status_code in (301, 302, 303, 307, 308):
            raise CliError(
                EXIT_API,
                f"HTTP {response.status_code}: the server redirected to "
                f"{response.headers.get('Location')}; check ORCHESTRATE_URL",
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                EXIT_API, f"HTTP {response.status_code}: the answer is not JSON; check the URL"
            ) from None

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs)

    def get_all(self, path: str) -> list[dict]:
        """Every item of a list endpoint, following its pages."""
        items: list[dict] = []
        while True:
            page = self.get(path, params={"offset": len(items)})
            items += page["items"]
            if not page["items"] or len(items) >= page["count"]:
                return items

    def post(self, path: str, body: Any = None, **kwargs) -> Any:
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def q(part: str) -> str:
    """One URL path segment."""
    from urllib.parse import quote

    return quote(str(part), safe="")


# --- output ------------------------------------------------------------------------------


class Output:
    def __init__(self, as_json: bool):
        self.as_json = as_json

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=False))

    def table(self, rows: list[dict], columns: list[tuple[str, Callable[[dict], Any] | str]]):
        print(render_table(rows, columns))

    def line(self, text: str = "") -> None:
        print(text)

    def progress(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("\n", " ")


def render_table(rows: list[dict], columns: list[tuple[str, Callable[[dict], Any] | str]]) -> str:
    header = [name for name, _ in columns]
    body = [
        [_cell(get(row) if callable(get) else row.get(get)) for _, get in columns] for row in rows
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def render_fields(pairs: Iterable[tuple[str, Any]]) -> str:
    pairs = list(pairs)
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in pairs)


def short_time(value: str | None) -> str | None:
    if not value:
        return None
    return value.replace("T", " ")[:19]


# --- clusters, nodepools, nodes ------------------------------------------------------------

CLUSTER_COLUMNS = [
    ("ID", "id"),
    ("PROVIDER", "cloud_provider"),
    ("REGION", "region"),
    ("NODEPOOLS", "nodepools"),
    ("SHARED", "shared"),
    ("DESCRIPTION", "description"),
]
NODEPOOL_COLUMNS = [
    ("ID", "id"),
    ("CLUSTER", "cluster_id"),
    ("INSTANCE TYPE", "instance_type"),
    ("CPU", "cpu_cores"),
    ("MEMORY", "memory"),
    ("ACCEL", lambda r: f"{r['accelerators']} {r['accelerator_type']}".strip()),
    ("$/H", "price_per_hour"),
    ("NODES", lambda r: f"{r['nodes']} ({r['min_nodes']}-{r['max_nodes']})"),
    ("DEPLOYMENTS", "deployments"),
]
NODE_COLUMNS = [
    ("NAME", "name"),
    ("ENGINE", "engine_url"),
    ("ADDRESS", "address"),
    ("CPU", lambda r: f"{r['used_cpu']:g}/{r['cpu_capacity']:g}"),
    ("MEMORY", "memory_capacity"),
    ("STATUS", "status"),
    ("LAST SEEN", lambda r: short_time(r["last_seen"])),
]


def show(out: Output, data: Any, columns=None, single: bool = False) -> None:
    if out.as_json:
        out.json(data)
    elif single:
        out.table([data], columns)
    else:
        out.table(data, columns)


def cmd_cluster(client: Client, out: Output, args) -> int:
    if args.action == "list":
        show(out, client.get_all("clusters/"), CLUSTER_COLUMNS)
    elif args.action == "get":
        show(out, client.get(f"clusters/{q(args.id)}/"), CLUSTER_COLUMNS, single=True)
    elif args.action == "create":
        body = {"id": args.id}
        for name in ("description", "cloud_provider", "region"):
            if getattr(args, name) is not None:
                body[name] = getattr(args, name)
        show(out, client.post("clusters/", body), CLUSTER_COLUMNS, single=True)
    elif args.action == "update":
        body = {
            name: getattr(args, name)
            for name in ("description", "cloud_provider", "region")
            if getattr(args, name) is not None
        }
        show(out, client.patch(f"clusters/{q(args.id)}/", body), CLUSTER_COLUMNS, single=True)
    elif args.action == "delete":
        client.delete(f"clusters/{q(args.id)}/")
        deleted(out, "cluster", args.id)
    return EXIT_OK


def deleted(out: Output, kind: str, ident: str) -> None:
    if out.as_json:
        out.json({"deleted": kind, "id": ident})
    else:
        out.line(f"Deleted {kind} {ident}.")


def _nodepool_body(args, *, create: bool) -> dict:
    body = {"id": args.id} if create else {}
    for name, attr in [
        ("description", "description"),
        ("instance_type", "instance_type"),
        ("cpu_cores", "cpu"),
        ("memory", "memory"),
        ("accelerators", "accelerators"),
        ("accelerator_type", "accelerator_type"),
        ("price_per_hour", "price_per_hour"),
        ("min_nodes", "min_nodes"),
        ("max_nodes", "max_nodes"),
    ]:
        value = getattr(args, attr, None)
        if value is not None:
            body[name] = _number_or_text(value) if name in ("cpu_cores", "memory") else value
    return body


def _number_or_text(value: str) -> Any:
    """ "8589934592" -> int, "2" -> int, "0.5" -> float, "8Gi" / "500m" -> as given."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def cmd_nodepool(client: Client, out: Output, args) -> int:
    base = f"clusters/{q(args.cluster)}/nodepools/"
    if args.action == "list":
        show(out, client.get_all(base), NODEPOOL_COLUMNS)
    elif args.action == "get":
        show(out, client.get(f"{base}{q(args.id)}/"), NODEPOOL_COLUMNS, single=True)
    elif args.action == "create":
        show(out, client.post(base, _nodepool_body(args, create=True)), NODEPOOL_COLUMNS, True)
    elif args.action == "update":
        data = client.patch(f"{base}{q(args.id)}/", _nodepool_body(args, create=False))
        show(out, data, NODEPOOL_COLUMNS, single=True)
    elif args.action == "delete":
        client.delete(f"{base}{q(args.id)}/")
        deleted(out, "nodepool", f"{args.cluster}/{args.id}")
    return EXIT_OK


def cmd_node(client: Client, out: Output, args) -> int:
    base = f"clusters/{q(args.cluster)}/nodepools/{q(args.nodepool)}/nodes/"
    if args.action == "list":
        show(out, client.get_all(base), NODE_COLUMNS)
    elif args.action == "get":
        show(out, client.get(f"{base}{q(args.name)}/"), NODE_COLUMNS, single=True)
    elif args.action == "add":
        body: dict[str, Any] = {"name": args.name, "engine_url": args.engine_url}
        if args.address is not None:
            body["address"] = args.address
        if args.cpu is not None:
            body["cpu_capacity"] = _number_or_text(args.cpu)
        if args.memory is not None:
            body["memory_capacity"] = _number_or_text(args.memory)
        if args.accelerators is not None:
            body["accelerators"] = args.accelerators
        show(out, client.post(base, body), NODE_COLUMNS, single=True)
    elif args.action == "remove":
        client.delete(f"{base}{q(args.name)}/")
        deleted(out, "node", f"{args.cluster}/{args.nodepool}/{args.name}")
    return EXIT_OK


# --- models --------------------------------------------------------------------------------

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


def cmd_model(client: Client, out: Output, args) -> int:
    if args.action == "list":
        show(out, client.get_all("models/"), MODEL_COLUMNS)
    elif args.action == "get":
        show(out, client.get(f"models/{q(args.id)}/"), MODEL_COLUMNS, single=True)
    elif args.action == "versions":
        show(out, client.get_all(f"models/{q(args.id)}/versions/"), VERSION_COLUMNS)
    elif args.action == "delete":
        client.delete(f"models/{q(args.id)}/")
        deleted(out, "model", args.id)
    elif args.action == "upload":
        return model_upload(client, out, args)
    return EXIT_OK


def model_upload(client: Client, out: Output, args) -> int:
    try:
        name, data = pack_upload(Path(args.path))
    except OSError as exc:
        raise CliError(EXIT_USAGE, f"cannot read {args.path}: {exc}") from None
    out.progress(f"Uploading {name} ({len(data):,} bytes) ...")
    version = client.post("models/", files={"archive": (name, data, "application/octet-stream")})
    model_id, version_id = version["model_id"], version["id"]
    out.progress(
        f"Model {model_id} v{version['number']} (version {version_id}): {version['build_status']}"
    )
    if args.no_wait:
        show_version(out, version)
        return EXIT_OK
    deadline = time.monotonic() + args.timeout
    status, printed = version["build_status"], 0
    path = f"models/{q(model_id)}/versions/{q(version_id)}/"
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
            if exc.code != EXIT_CONNECTION or failures >= 5:
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
    show_version(out, version)
    return EXIT_OK


def show_version(out: Output, version: dict) -> None:
    if out.as_json:
        out.json(version)
    else:
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


# --- deployments ---------------------------------------------------------------------------

DEPLOYMENT_COLUMNS = [
    ("ID", "id"),
    ("MODEL", lambda r: f"{r['model_id']} v{r['model_version_number']}"),
    ("NODEPOOL", lambda r: f"{r['cluster_id']}/{r['nodepool_id']}"),
    ("READY", lambda r: f"{r['ready_replicas']}/{r['desired_replicas']}"),
    (
        "MIN-MAX",
        lambda r: (
            f"{r['autoscale_config']['min_replicas']}-{r['autoscale_config']['max_replicas']}"
        ),
    ),
    ("STATUS", "status"),
]
REPLICA_COLUMNS = [
    ("REPLICA", "id"),
    ("STATE", "state"),
    ("NODE", "node"),
    ("ADDRESS", lambda r: r["address"] or None),
    ("STARTED", lambda r: short_time(r["started_at"])),
    ("ERROR", lambda r: (r["last_error"] or r.get("pending_reason") or "")[:60] or None),
]


def load_deployment_config(path: str) -> dict:
    """A deployment file (YAML or JSON) as an API body.

    Either the API's own shape ({id, model_id, cluster_id, nodepool_id, autoscale_config, ...})
    or Clarifai's `deployment:` document (worker.model, nodepools[0].compute_cluster).
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CliError(EXIT_USAGE, f"cannot read {path}: {exc}") from None
    try:
        import yaml

        data = yaml.safe_load(text)
    except ImportError:  # pragma: no cover - PyYAML is a dependency; JSON still works
        data = json.loads(text)
    except Exception as exc:
        raise CliError(EXIT_USAGE, f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(EXIT_USAGE, f"{path}: expected a mapping of deployment settings")
    if isinstance(data.get("deployment"), dict):
        data = data["deployment"]
    body: dict[str, Any] = {}
    for key in ("id", "description", "model_id", "model_version_id", "cluster_id", "nodepool_id"):
        if data.get(key) is not None:
            body[key] = data[key]
    model = (
        (data.get("worker") or {}).get("model") if isinstance(data.get("worker"), dict) else None
    )
    if isinstance(model, dict):
        if model.get("id"):
            body.setdefault("model_id", model["id"])
        version = model.get("model_version")
        if isinstance(version, dict) and version.get("id"):
            body.setdefault("model_version_id", version["id"])
    nodepools = data.get("nodepools")
    if isinstance(nodepools, list) and nodepools and isinstance(nodepools[0], dict):
        body.setdefault("nodepool_id", nodepools[0].get("id"))
        cluster = nodepools[0].get("compute_cluster")
        if isinstance(cluster, dict) and cluster.get("id"):
            body.setdefault("cluster_id", cluster["id"])
    config = data.get("autoscale_config")
    if config is not None:
        if not isinstance(config, dict):
            raise CliError(EXIT_USAGE, f"{path}: autoscale_config must be a mapping")
        known = {name for name, _, _ in AUTOSCALE_FLAGS}
        # Clarifai's file may carry settings this server does not have (disable_packing).
        body["autoscale_config"] = {k: v for k, v in config.items() if k in known}
    return {k: v for k, v in body.items() if v is not None}


def _deployment_body(args, *, create: bool) -> dict:
    body = load_deployment_config(args.config) if args.config else {}
    if not create:
        body = {
            k: v
            for k, v in body.items()
            if k in ("description", "model_version_id", "autoscale_config")
        }
    flags = {
        "id": getattr(args, "id", None) if create else None,
        "description": args.description,
        "model_id": getattr(args, "model", None),
        "model_version_id": args.version,
        "cluster_id": getattr(args, "cluster", None),
        "nodepool_id": getattr(args, "nodepool", None),
    }
    body.update({k: v for k, v in flags.items() if v is not None})
    autoscale = dict(body.get("autoscale_config") or {})
    for name, _, _ in AUTOSCALE_FLAGS:
        value = getattr(args, name)
        if value is not None:
            autoscale[name] = value
    if autoscale:
        body["autoscale_config"] = autoscale
    if create:
        missing = [
            flag
            for key, flag in [
                ("id", "ID"),
                ("model_id", "--model"),
                ("cluster_id", "--cluster"),
                ("nodepool_id", "--nodepool"),
            ]
            if not body.get(key)
        ]
        if missing:
            raise CliError(
                EXIT_USAGE,
                f"deployment create needs {', '.join(missing)} (as arguments or in --config)",
            )
    return body


def show_deployment(out: Output, data: dict) -> None:
    if out.as_json:
        out.json(data)
        return
    out.line(render_deployment(data))


def render_deployment(data: dict) -> str:
    config = data["autoscale_config"]
    summary = render_fields(
        [
            ("deployment", data["id"]),
            (
                "model",
                f"{data['model_id']} v{data['model_version_number']} ({data['model_version_id']})",
            ),
            ("nodepool", f"{data['cluster_id']}/{data['nodepool_id']}"),
            (
                "status",
                data["status"] + (f": {data['status_message']}" if data["status_message"] else ""),
            ),
            (
                "replicas",
                f"{data['ready_replicas']} ready of {data['desired_replicas']} desired "
                f"(min {config['min_replicas']}, max {config['max_replicas']})",
            ),
            ("autoscale", ", ".join(f"{k}={v}" for k, v in config.items())),
        ]
    )
    return summary + "\n\n" + render_table(data["replicas"], REPLICA_COLUMNS)


def cmd_deployment(client: Client, out: Output, args) -> int:
    if args.action == "list":
        show(out, client.get_all("deployments/"), DEPLOYMENT_COLUMNS)
    elif args.action == "get":
        show_deployment(out, client.get(f"deployments/{q(args.id)}/"))
    elif args.action == "create":
        show_deployment(out, client.post("deployments/", _deployment_body(args, create=True)))
    elif args.action == "update":
        body = _deployment_body(args, create=False)
        if not body:
            raise CliError(EXIT_USAGE, "nothing to update: pass a setting flag or --config")
        show_deployment(out, client.patch(f"deployments/{q(args.id)}/", body))
    elif args.action == "delete":
        data = client.delete(f"deployments/{q(args.id)}/")
        if out.as_json:
            out.json(data)
        else:
            out.line(f"Deleting deployment {args.id}: its replicas are being removed.")
    elif args.action == "status":
        return deployment_status(client, out, args)
    return EXIT_OK


def _is_ready(data: dict) -> bool:
    return data["status"] not in ("deleting", "failed") and (
        data["ready_replicas"] >= data["desired_replicas"]
    )


def deployment_status(client: Client, out: Output, args) -> int:
    path = f"deployments/{q(args.id)}/"
    if not (args.watch or args.until_ready):
        show_deployment(out, client.get(path))
        return EXIT_OK
    tty = sys.stdout.isatty() and not out.as_json
    deadline = time.monotonic() + args.timeout if args.until_ready else None
    last = None
    try:
        while True:
            data = client.get(path)
            snapshot = json.dumps(
                {k: v for k, v in data.items() if k not in ("updated_at",)}, sort_keys=True
            )
            if snapshot != last:
                last = snapshot
                if out.as_json:
                    print(json.dumps(data), flush=True)
                elif tty:
                    sys.stdout.write("\x1b[H\x1b[2J")
                    print(time.strftime("%H:%M:%S") + "  (Ctrl-C to stop)\n")
                    print(render_deployment(data), flush=True)
                else:
                    print(f"--- {time.strftime('%H:%M:%S')}")
                    print(render_deployment(data), flush=True)
            if args.until_ready:
                if data["status"] == "failed":
                    raise CliError(
                        EXIT_API, f"deployment {args.id} failed: {data['status_message']}"
                    )
                if data["status"] == "deleting":
                    raise CliError(EXIT_API, f"deployment {args.id} is being deleted")
                if _is_ready(data):
                    out.progress(
                        f"Deployment {args.id} is ready: {data['ready_replicas']} of "
                        f"{data['desired_replicas']} replicas."
                    )
                    return EXIT_OK
                if deadline is not None and time.monotonic() > deadline:
                    raise CliError(
                        EXIT_TIMEOUT,
                        f"timed out after {args.timeout:g}s: {data['ready_replicas']} of "
                        f"{data['desired_replicas']} replicas ready",
                    )
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK


# --- predict -------------------------------------------------------------------------------


def _looks_like_image(path: Path, data: bytes) -> bool:
    return (
        path.suffix.lower() in IMAGE_SUFFIXES
        or data.startswith(IMAGE_MAGIC)
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def predict_input(text: str, kind: str) -> dict:
    """The `data` object for TEXT, @FILE (text or image) or @- (stdin)."""
    if text.startswith("@@"):
        return {"text": {"raw": text[1:]}}
    if text.startswith("@"):
        name = text[1:]
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CliError(EXIT_USAGE, f"cannot read {name}: {exc}") from None
        if kind == "image" or (kind == "auto" and _looks_like_image(Path(name), data)):
            return {"image": {"base64": base64.b64encode(data).decode()}}
        try:
            return {"text": {"raw": data.decode("utf-8")}}
        except UnicodeDecodeError:
            raise CliError(
                EXIT_USAGE, f"{name} is neither UTF-8 text nor a known image type"
            ) from None
    if kind == "image":
        raise CliError(EXIT_USAGE, "--type image needs @FILE")
    return {"text": {"raw": text}}


def render_output(data: dict) -> str:
    concepts = data.get("concepts")
    if isinstance(concepts, list) and concepts:
        ranked = sorted(concepts, key=lambda c: -float(c.get("value", 0) or 0))
        rows = [
            {
                "rank": i,
                "concept": c.get("name") or c.get("id"),
                "value": float(c.get("value", 0) or 0),
            }
            for i, c in enumerate(ranked, 1)
        ]
        return render_table(
            rows,
            [
                ("#", "rank"),
                ("CONCEPT", "concept"),
                ("VALUE", lambda r: f"{r['value']:.4f}"),
                ("", lambda r: "█" * max(0, min(30, round(r["value"] * 30)))),
            ],
        )
    text = data.get("text")
    if isinstance(text, dict) and "raw" in text:
        return str(text["raw"])
    return json.dumps(data, indent=2)


def cmd_predict(client: Client, out: Output, args) -> int:
    body: dict[str, Any] = {"inputs": [{"data": predict_input(args.input, args.type)}]}
    if args.deployment:
        body["runner_selector"] = {"deployment": {"id": args.deployment}}
    path = f"/v2/models/{q(args.model)}/"
    if args.version:
        path += f"versions/{q(args.version)}/"
    path += "outputs"
    started = time.monotonic()
    data = client.request("POST", path, json=body, timeout=args.predict_timeout)
    elapsed = (time.monotonic() - started) * 1000
    if out.as_json:
        out.json(data)
        return EXIT_OK
    status = (data or {}).get("status") or {}
    if status.get("code", 10000) != 10000:
        raise CliError(EXIT_API, f"{status.get('description')}: {status.get('details', '')}")
    for output in data.get("outputs") or []:
        if len(data["outputs"]) > 1:
            out.line(f"# input {output.get('input', {}).get('id', '')}")
        out.line(render_output(output.get("data") or {}))
    out.progress(f"({elapsed:.0f} ms)")
    return EXIT_OK


def cmd_whoami(client: Client, out: Output, args) -> int:
    data = client.get("me/")
    if out.as_json:
        out.json(data)
    else:
        out.line(f"{data['username']} at {client.base}")
    return EXIT_OK


# --- arguments -----------------------------------------------------------------------------

EPILOG = """\
configuration:
  ORCHESTRATE_URL   the portal's address (default http://127.0.0.1:8000), or --url
  ORCHESTRATE_KEY   a personal access token (portal: API keys), or --key

exit codes:
  0 ok · 1 API error or failed operation · 2 usage error · 3 cannot reach the server
  4 timed out waiting
"""


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--url", default=argparse.SUPPRESS, help="server URL ($ORCHESTRATE_URL)")
    group.add_argument("--key", default=argparse.SUPPRESS, help="access token ($ORCHESTRATE_KEY)")
    group.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the API's JSON"
    )
    group.add_argument(
        "--http-timeout",
        type=float,
        default=argparse.SUPPRESS,
        help="seconds to wait for each HTTP answer (default 30)",
    )
    return common


def _autoscale_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("autoscale settings")
    for name, flags, help_text in AUTOSCALE_FLAGS:
        group.add_argument(*flags, dest=name, type=int, metavar="N", help=help_text)
    parser.add_argument(
        "--config", metavar="FILE", help="deployment.yaml (flags override what it sets)"
    )


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="orchestrate",
        description="Manage compute, models and deployments of a Compute Orchestration portal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    resources = parser.add_subparsers(dest="resource", metavar="COMMAND", required=True)

    def group(name: str, help_text: str):
        sub = resources.add_parser(name, help=help_text, description=help_text)
        return sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(actions, name: str, help_text: str):
        return actions.add_parser(name, help=help_text, description=help_text, parents=[common])

    # cluster
    actions = group("cluster", "clusters: compute in one cloud and region, or one site")
    action(actions, "list", "list clusters")
    p = action(actions, "get", "show a cluster")
    p.add_argument("id")
    for verb in ("create", "update"):
        p = action(actions, verb, f"{verb} a cluster")
        p.add_argument("id")
        p.add_argument("--description")
        p.add_argument(
            "--cloud-provider", choices=["local", "aws", "gcp", "azure", "oracle", "on-prem"]
        )
        p.add_argument("--region")
    p = action(actions, "delete", "delete a cluster (and its nodepools and nodes)")
    p.add_argument("id")

    # nodepool
    actions = group("nodepool", "nodepools: nodes of one instance type in a cluster")
    p = action(actions, "list", "list a cluster's nodepools")
    p.add_argument("cluster")
    for verb in ("get", "delete"):
        p = action(actions, verb, f"{verb} a nodepool")
        p.add_argument("cluster")
        p.add_argument("id")
    for verb in ("create", "update"):
        p = action(actions, verb, f"{verb} a nodepool")
        p.add_argument("cluster")
        p.add_argument("id")
        p.add_argument("--description")
        p.add_argument("--instance-type")
        p.add_argument("--cpu", help='CPU cores per node: 2, 0.5 or "500m"')
        p.add_argument("--memory", help='memory per node: "8Gi", "512Mi" or bytes')
        p.add_argument("--accelerators", type=int)
        p.add_argument("--accelerator-type")
        p.add_argument("--price-per-hour", type=float)
        p.add_argument("--min-nodes", type=int)
        p.add_argument("--max-nodes", type=int)

    # node
    actions = group("node", "nodes: the Docker engines of a nodepool")
    p = action(actions, "list", "list a nodepool's nodes")
    p.add_argument("cluster")
    p.add_argument("nodepool")
    for verb, help_text in (("get", "show a node"), ("remove", "remove a node")):
        p = action(actions, verb, help_text)
        p.add_argument("cluster")
        p.add_argument("nodepool")
        p.add_argument("name")
    p = action(actions, "add", "add a node (a Docker engine)")
    p.add_argument("cluster")
    p.add_argument("nodepool")
    p.add_argument("name")
    p.add_argument(
        "--engine-url",
        required=True,
        help="unix:///var/run/docker.sock or tcp://host:2376",
    )
    p.add_argument("--address", help="host or IP at which its replicas are reached")
    p.add_argument("--cpu", help="CPU capacity (default: the nodepool's)")
    p.add_argument("--memory", help="memory capacity (default: the nodepool's)")
    p.add_argument("--accelerators", type=int)

    # model
    actions = group("model", "models and their versions")
    action(actions, "list", "list models")
    for verb, help_text in (
        ("get", "show a model"),
        ("versions", "list a model's versions"),
        ("delete", "delete a model and its versions"),
    ):
        p = action(actions, verb, help_text)
        p.add_argument("id")
    p = action(actions, "upload", "upload a model folder or archive and wait for its build")
    p.add_argument("path", help="a model folder, or a .zip / .tar.gz of one")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the image build")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the build")
    p.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="print the build log as it grows")

    # deployment
    actions = group("deployment", "deployments: a model version on a nodepool, autoscaled")
    action(actions, "list", "list deployments")
    p = action(actions, "get", "show a deployment and its replicas")
    p.add_argument("id")
    p = action(actions, "create", "deploy a model version on a nodepool")
    p.add_argument("id", nargs="?", help="deployment id (or `id` in --config)")
    p.add_argument("--model", help="model id")
    p.add_argument("--version", help="version id or number (default: latest ready)")
    p.add_argument("--cluster", help="cluster id")
    p.add_argument("--nodepool", help="nodepool id")
    p.add_argument("--description")
    _autoscale_args(p)
    p = action(actions, "update", "change a deployment's settings or version")
    p.add_argument("id")
    p.add_argument("--version", help="roll to this version (id or number)")
    p.add_argument("--description")
    _autoscale_args(p)
    p = action(actions, "delete", "delete a deployment (its replicas are removed)")
    p.add_argument("id")
    p = action(actions, "status", "show replicas; --watch redraws as they change")
    p.add_argument("id")
    p.add_argument("--watch", "-w", action="store_true", help="redraw until Ctrl-C")
    p.add_argument(
        "--until-ready",
        action="store_true",
        help="watch and exit 0 once all desired replicas are ready (4 on --timeout)",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds for --until-ready")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls")

    # predict
    p = resources.add_parser(
        "predict",
        help="predict with a model",
        description="Send TEXT, or @FILE (text or image; @- reads stdin; @@text sends '@text')",
        parents=[common],
    )
    p.add_argument("model", help="model id")
    p.add_argument("input", metavar="TEXT-or-@FILE")
    p.add_argument("--deployment", help="deployment to use (default: the shared deployment)")
    p.add_argument("--version", help="model version id")
    p.add_argument("--type", choices=["auto", "text", "image"], default="auto")
    p.add_argument(
        "--timeout",
        dest="predict_timeout",
        type=float,
        default=300,
        help="seconds to wait (a cold start can take minutes)",
    )

    resources.add_parser("whoami", help="check the URL and key", parents=[common])
    return parser


COMMANDS = {
    "cluster": cmd_cluster,
    "nodepool": cmd_nodepool,
    "node": cmd_node,
    "model": cmd_model,
    "deployment": cmd_deployment,
    "predict": cmd_predict,
    "whoami": cmd_whoami,
}


def main(argv: list[str] | None = None, *, transport=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    as_json = bool(getattr(args, "json", False))
    out = Output(as_json)
    url = getattr(args, "url", None) or os.environ.get("ORCHESTRATE_URL") or DEFAULT_URL
    key = getattr(args, "key", None) or os.environ.get("ORCHESTRATE_KEY") or ""
    client = None
    try:
        if not key.strip():
            raise CliError(
                EXIT_USAGE,
                "no access token: set ORCHESTRATE_KEY or pass --key "
                "(create one on the portal's API keys page)",
            )
        key = key.strip()
        if any(ch.isspace() or not ch.isprintable() for ch in key):
            raise CliError(EXIT_USAGE, "the access token contains spaces or line breaks")
        client = Client(url, key, timeout=getattr(args, "http_timeout", 30.0), transport=transport)
        return COMMANDS[args.resource](client, out, args)
    except CliError as exc:
        if as_json and exc.body is not None:
            print(json.dumps(exc.body), file=sys.stderr)
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `orchestrate ... | head`
        return EXIT_OK
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
