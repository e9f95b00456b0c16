"""`orchestrate nodepool ...`: nodepools, nodes of one instance type in a cluster."""

from __future__ import annotations

import argparse

from orchestration.cli.arguments import Commands, number_or_text
from orchestration.cli.client import EXIT_OK, Client, q
from orchestration.cli.output import Output, deleted, show

NODEPOOL_COLUMNS = [
    ("ID", "id"),
    ("CLUSTER", "cluster_id"),
    ("RUNTIME", lambda r: r.get("runtime", "docker")),
    ("INSTANCE TYPE", "instance_type"),
    ("CPU", "cpu_cores"),
    ("MEMORY", "memory"),
    ("ACCEL", lambda r: f"{r['accelerators']} {r['accelerator_type']}".strip()),
    ("$/H", "price_per_hour"),
    ("NODES", lambda r: f"{r['nodes']} ({r['min_nodes']}-{r['max_nodes']})"),
    ("DEPLOYMENTS", "deployments"),
]
# One swarm nodepool shown (get, create, update): where its nodes come from.
SWARM_COLUMNS = [
    ("MANAGER", "manager_url"),
    ("NODE LABELS", lambda r: ",".join(r.get("node_labels") or [])),
]
# API field -> argument; CPU and memory may be quantities ("500m", "8Gi") the server parses.
SETTINGS = [
    ("description", "description"),
    ("instance_type", "instance_type"),
    ("cpu_cores", "cpu"),
    ("memory", "memory"),
    ("accelerators", "accelerators"),
    ("accelerator_type", "accelerator_type"),
    ("accelerator_sharing", "accelerator_sharing"),
    ("price_per_hour", "price_per_hour"),
    ("min_nodes", "min_nodes"),
    ("max_nodes", "max_nodes"),
    ("runtime", "runtime"),
    ("manager_url", "manager_url"),
    ("node_labels", "node_labels"),
]
QUANTITIES = ("cpu_cores", "memory")


def _base(args) -> str:
    return f"clusters/{q(args.cluster)}/nodepools/"


def _show_one(out: Output, data: dict) -> None:
    swarm = isinstance(data, dict) and data.get("runtime") == "swarm"
    show(out, data, NODEPOOL_COLUMNS + SWARM_COLUMNS if swarm else NODEPOOL_COLUMNS, single=True)


def list_nodepools(client: Client, out: Output, args) -> int:
    show(out, client.get_all(_base(args)), NODEPOOL_COLUMNS)
    return EXIT_OK


def get_nodepool(client: Client, out: Output, args) -> int:
    _show_one(out, client.get(f"{_base(args)}{q(args.id)}/"))
    return EXIT_OK


def create_nodepool(client: Client, out: Output, args) -> int:
    body = {"id": args.id, **_settings(args)}
    _show_one(out, client.post(_base(args), body))
    return EXIT_OK


def update_nodepool(client: Client, out: Output, args) -> int:
    _show_one(out, client.patch(f"{_base(args)}{q(args.id)}/", _settings(args)))
    return EXIT_OK


def delete_nodepool(client: Client, out: Output, args) -> int:
    client.delete(f"{_base(args)}{q(args.id)}/")
    deleted(out, "nodepool", f"{args.cluster}/{args.id}")
    return EXIT_OK


def _settings(args) -> dict:
    body = {}
    for name, attr in SETTINGS:
        value = getattr(args, attr, None)
        if value is not None:
            body[name] = number_or_text(value) if name in QUANTITIES else value
    return body


def register(commands: Commands) -> None:
    group = commands.group("nodepool", "nodepools: nodes of one instance type in a cluster")
    group.action("list", list_nodepools, "list a cluster's nodepools").add_argument("cluster")
    for verb, func in (("get", get_nodepool), ("delete", delete_nodepool)):
        p = group.action(verb, func, f"{verb} a nodepool")
        p.add_argument("cluster")
        p.add_argument("id")
    for verb, func in (("create", create_nodepool), ("update", update_nodepool)):
        p = group.action(verb, func, f"{verb} a nodepool")
        p.add_argument("cluster")
        p.add_argument("id")
        p.add_argument("--description")
        p.add_argument("--instance-type")
        p.add_argument("--cpu", help='CPU cores per node: 2, 0.5 or "500m"')
        p.add_argument("--memory", help='memory per node: "8Gi", "512Mi" or bytes')
        p.add_argument("--accelerators", type=int)
        p.add_argument("--accelerator-type")
        p.add_argument(
            "--accelerator-sharing",
            action=argparse.BooleanOptionalAction,
            help="let several replicas use one accelerator device (default: one each)",
        )
        p.add_argument("--price-per-hour", type=float)
        p.add_argument("--min-nodes", type=int)
        p.add_argument("--max-nodes", type=int)
        p.add_argument(
            "--runtime",
            choices=("docker", "swarm"),
            help="docker: replicas run on the Docker engines added as nodes (the default); "
            "swarm: a Swarm manager schedules them",
        )
        p.add_argument(
            "--manager-url",
            metavar="URL",
            help="a swarm nodepool's manager: unix:///var/run/docker.sock or tcp://host:2376",
        )
        p.add_argument(
            "--node-label",
            dest="node_labels",
            action="append",
            metavar="KEY=VALUE",
            help="a Swarm node label its nodes must carry; repeat for several"
            + ("" if verb == "create" else " (replaces the labels)"),
        )
