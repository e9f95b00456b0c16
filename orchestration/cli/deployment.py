"""`orchestrate deployment ...`: deployments (a model version on a nodepool, autoscaled),
from flags or a deployment.yaml, and watching their replicas."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from orchestration.cli import cost
from orchestration.cli.arguments import Commands
from orchestration.cli.client import (
    EXIT_API,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Client,
    CliError,
    q,
)
from orchestration.cli.deployment_logs import add_logs_action
from orchestration.cli.output import Output, render_fields, render_table, short_time, show
from orchestration.constants import AUTOSCALE_DEFAULTS

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
# Each autoscale setting's flag is its API field with dashes; these are the shorter names
# (and Clarifai's) accepted besides it, and the help. The settings come from AUTOSCALE_DEFAULTS.
AUTOSCALE_OPTIONS = {
    "min_replicas": ((), "minimum replicas; 0 allows scale to zero"),
    "max_replicas": ((), "maximum replicas"),
    "scale_down_delay_seconds": (
        ("--scale-down-delay",),
        "seconds a lower count must be wanted before replicas are removed",
    ),
    "traffic_history_seconds": (
        ("--traffic-history", "--scaling-timeframe"),
        "seconds of traffic the autoscaler averages over",
    ),
    "scale_up_delay_seconds": (
        ("--scale-up-delay",),
        "seconds a higher count must be wanted before replicas are added",
    ),
    "scale_to_zero_delay_seconds": (
        ("--scale-to-zero-delay",),
        "idle seconds before the last replica goes, when --min-replicas is 0",
    ),
    "target_concurrency": ((), "in-flight requests one replica is meant to carry"),
}
# What `deployment update` may change; the rest of a config file is for create.
UPDATABLE = ("description", "model_version_id", "autoscale_config")


def list_deployments(client: Client, out: Output, args) -> int:
    show(out, client.get_all("deployments/"), DEPLOYMENT_COLUMNS)
    return EXIT_OK


def get_deployment(client: Client, out: Output, args) -> int:
    show_deployment(out, client.get(f"deployments/{q(args.id)}/"))
    return EXIT_OK


def create_deployment(client: Client, out: Output, args) -> int:
    show_deployment(out, client.post("deployments/", deployment_body(args, create=True)))
    return EXIT_OK


def update_deployment(client: Client, out: Output, args) -> int:
    body = deployment_body(args, create=False)
    if not body:
        raise CliError(EXIT_USAGE, "nothing to update: pass a setting flag or --config")
    show_deployment(out, client.patch(f"deployments/{q(args.id)}/", body))
    return EXIT_OK


def delete_deployment(client: Client, out: Output, args) -> int:
    data = client.delete(f"deployments/{q(args.id)}/")
    if out.as_json:
        out.json(data)
    else:
        out.line(f"Deleting deployment {args.id}: its replicas are being removed.")
    return EXIT_OK


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
        # Clarifai's file may carry settings this server does not have (disable_packing).
        body["autoscale_config"] = {k: v for k, v in config.items() if k in AUTOSCALE_DEFAULTS}
    return {k: v for k, v in body.items() if v is not None}


def deployment_body(args, *, create: bool) -> dict:
    """The API body from --config and the flags, the flags winning."""
    body = load_deployment_config(args.config) if args.config else {}
    if not create:
        body = {k: v for k, v in body.items() if k in UPDATABLE}
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
    for name in AUTOSCALE_DEFAULTS:
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
                _draw(out, data, tty)
            if args.until_ready and _settled(out, data, args, deadline):
                return EXIT_OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK


def _draw(out: Output, data: dict, tty: bool) -> None:
    if out.as_json:
        print(json.dumps(data), flush=True)
    elif tty:
        sys.stdout.write("\x1b[H\x1b[2J")
        print(time.strftime("%H:%M:%S") + "  (Ctrl-C to stop)\n")
        print(render_deployment(data), flush=True)
    else:
        print(f"--- {time.strftime('%H:%M:%S')}")
        print(render_deployment(data), flush=True)


def _settled(out: Output, data: dict, args, deadline: float | None) -> bool:
    """For --until-ready: True once every desired replica is ready; raises when the
    deployment failed, is going away, or the time is up."""
    if data["status"] == "failed":
        raise CliError(EXIT_API, f"deployment {args.id} failed: {data['status_message']}")
    if data["status"] == "deleting":
        raise CliError(EXIT_API, f"deployment {args.id} is being deleted")
    if data["ready_replicas"] >= data["desired_replicas"]:
        out.progress(
            f"Deployment {args.id} is ready: {data['ready_replicas']} of "
            f"{data['desired_replicas']} replicas."
        )
        return True
    if deadline is not None and time.monotonic() > deadline:
        raise CliError(
            EXIT_TIMEOUT,
            f"timed out after {args.timeout:g}s: {data['ready_replicas']} of "
            f"{data['desired_replicas']} replicas ready",
        )
    return False


def _settings_args(parser: argparse.ArgumentParser, *, create: bool) -> None:
    group = parser.add_argument_group("autoscale settings")
    for name, default in AUTOSCALE_DEFAULTS.items():
        aliases, help_text = AUTOSCALE_OPTIONS[name]
        if create:  # an update leaves what is not passed as it is
            help_text += f" (default {default})"
        flags = [*aliases, f"--{name.replace('_', '-')}"]
        group.add_argument(*flags, dest=name, type=int, metavar="N", help=help_text)
    parser.add_argument(
        "--config", metavar="FILE", help="deployment.yaml (flags override what it sets)"
    )


def register(commands: Commands) -> None:
    group = commands.group("deployment", "deployments: a model version on a nodepool, autoscaled")
    group.action("list", list_deployments, "list deployments")
    group.action("get", get_deployment, "show a deployment and its replicas").add_argument("id")
    cost.register(group)
    p = group.action("create", create_deployment, "deploy a model version on a nodepool")
    p.add_argument("id", nargs="?", help="deployment id (or `id` in --config)")
    p.add_argument("--model", help="model id")
    p.add_argument("--version", help="version id or number (default: latest ready)")
    p.add_argument("--cluster", help="cluster id")
    p.add_argument("--nodepool", help="nodepool id")
    p.add_argument("--description")
    _settings_args(p, create=True)
    p = group.action("update", update_deployment, "change a deployment's settings or version")
    p.add_argument("id")
    p.add_argument("--version", help="roll to this version (id or number)")
    p.add_argument("--description")
    _settings_args(p, create=False)
    p = group.action("delete", delete_deployment, "delete a deployment (its replicas are removed)")
    p.add_argument("id")
    p = group.action("status", deployment_status, "show replicas; --watch redraws as they change")
    p.add_argument("id")
    p.add_argument("--watch", "-w", action="store_true", help="redraw until Ctrl-C")
    p.add_argument(
        "--until-ready",
        action="store_true",
        help="watch and exit 0 once all desired replicas are ready (4 on --timeout)",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds for --until-ready")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    add_logs_action(group)
