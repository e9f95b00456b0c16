"""`orchestrate cluster ...`: clusters, compute in one cloud and region or one site."""

from __future__ import annotations

from orchestration.cli.arguments import Commands
from orchestration.cli.client import EXIT_OK, Client, q
from orchestration.cli.output import Output, deleted, show
from orchestration.constants import CLOUD_PROVIDER_VALUES

CLUSTER_COLUMNS = [
    ("ID", "id"),
    ("PROVIDER", "cloud_provider"),
    ("REGION", "region"),
    ("NODEPOOLS", "nodepools"),
    ("SHARED", "shared"),
    ("DESCRIPTION", "description"),
]
SETTINGS = ("description", "cloud_provider", "region")


def list_clusters(client: Client, out: Output, args) -> int:
    show(out, client.get_all("clusters/"), CLUSTER_COLUMNS)
    return EXIT_OK


def get_cluster(client: Client, out: Output, args) -> int:
    show(out, client.get(f"clusters/{q(args.id)}/"), CLUSTER_COLUMNS, single=True)
    return EXIT_OK


def create_cluster(client: Client, out: Output, args) -> int:
    body = {"id": args.id, **_settings(args)}
    show(out, client.post("clusters/", body), CLUSTER_COLUMNS, single=True)
    return EXIT_OK


def update_cluster(client: Client, out: Output, args) -> int:
    data = client.patch(f"clusters/{q(args.id)}/", _settings(args))
    show(out, data, CLUSTER_COLUMNS, single=True)
    return EXIT_OK


def delete_cluster(client: Client, out: Output, args) -> int:
    client.delete(f"clusters/{q(args.id)}/")
    deleted(out, "cluster", args.id)
    return EXIT_OK


def _settings(args) -> dict:
    return {name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}


def register(commands: Commands) -> None:
    group = commands.group("cluster", "clusters: compute in one cloud and region, or one site")
    group.action("list", list_clusters, "list clusters")
    group.action("get", get_cluster, "show a cluster").add_argument("id")
    for verb, func in (("create", create_cluster), ("update", update_cluster)):
        p = group.action(verb, func, f"{verb} a cluster")
        p.add_argument("id")
        p.add_argument("--description")
        p.add_argument("--cloud-provider", choices=CLOUD_PROVIDER_VALUES)
        p.add_argument("--region")
    p = group.action("delete", delete_cluster, "delete a cluster (and its nodepools and nodes)")
    p.add_argument("id")
