"""`orchestrate node ...`: nodes, the Docker engines of a nodepool."""

from __future__ import annotations

from typing import Any

from orchestration.cli.arguments import Commands, number_or_text
from orchestration.cli.client import EXIT_OK, Client, q
from orchestration.cli.output import Output, deleted, short_time, show

NODE_COLUMNS = [
    ("NAME", "name"),
    ("ENGINE", "engine_url"),
    ("ADDRESS", "address"),
    ("CPU", lambda r: f"{r['used_cpu']:g}/{r['cpu_capacity']:g}"),
    ("MEMORY", "memory_capacity"),
    ("STATUS", "status"),
    ("LAST SEEN", lambda r: short_time(r["last_seen"])),
]


def _base(args) -> str:
    return f"clusters/{q(args.cluster)}/nodepools/{q(args.nodepool)}/nodes/"


def list_nodes(client: Client, out: Output, args) -> int:
    show(out, client.get_all(_base(args)), NODE_COLUMNS)
    return EXIT_OK


def get_node(client: Client, out: Output, args) -> int:
    show(out, client.get(f"{_base(args)}{q(args.name)}/"), NODE_COLUMNS, single=True)
    return EXIT_OK


def add_node(client: Client, out: Output, args) -> int:
    body: dict[str, Any] = {"name": args.name, "engine_url": args.engine_url}
    if args.address is not None:
        body["address"] = args.address
    if args.cpu is not None:
        body["cpu_capacity"] = number_or_text(args.cpu)
    if args.memory is not None:
        body["memory_capacity"] = number_or_text(args.memory)
    if args.accelerators is not None:
        body["accelerators"] = args.accelerators
    if args.accelerator_type is not None:
        body["accelerator_type"] = args.accelerator_type
    show(out, client.post(_base(args), body), NODE_COLUMNS, single=True)
    return EXIT_OK


def remove_node(client: Client, out: Output, args) -> int:
    client.delete(f"{_base(args)}{q(args.name)}/")
    deleted(out, "node", f"{args.cluster}/{args.nodepool}/{args.name}")
    return EXIT_OK


def register(commands: Commands) -> None:
    group = commands.group("node", "nodes: the Docker engines of a nodepool")
    p = group.action("list", list_nodes, "list a nodepool's nodes")
    p.add_argument("cluster")
    p.add_argument("nodepool")
    for verb, func, help_text in (
        ("get", get_node, "show a node"),
        ("remove", remove_node, "remove a node"),
    ):
        p = group.action(verb, func, help_text)
        p.add_argument("cluster")
        p.add_argument("nodepool")
        p.add_argument("name")
    p = group.action("add", add_node, "add a node (a Docker engine)")
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
    p.add_argument("--accelerator-type", help="default: the nodepool's")
