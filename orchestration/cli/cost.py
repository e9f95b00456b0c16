"""`orchestrate deployment cost ID` and `orchestrate deployment costs`: what deployments
cost (the API's figures: USD, 4 decimal places; shown here with 2)."""

from __future__ import annotations

from decimal import Decimal

from orchestration.cli.arguments import CommandGroup
from orchestration.cli.client import EXIT_OK, Client, q
from orchestration.cli.output import Output, render_fields, render_table

WINDOWS = (("24H", "last_24_hours"), ("MONTH", "this_month"), ("TOTAL", "total"))


def usd(amount: str) -> str:
    return f"{Decimal(amount).quantize(Decimal('0.01'))} USD"


def cost_columns(first: list) -> list:
    columns = list(first)
    for header, key in WINDOWS:
        columns.append((header, lambda r, key=key: usd(r["cost"][key])))
    columns.append(("IDLE (MONTH)", lambda r: usd(r["cost"]["idle_this_month"])))
    return columns


def render_cost(data: dict) -> str:
    cost = data["cost"]
    return render_fields(
        [
            ("deployment", data["deployment_id"]),
            ("nodepool", f"{data['cluster_id']}/{data['nodepool_id']}"),
            ("last 24 hours", usd(cost["last_24_hours"])),
            ("this month", usd(cost["this_month"])),
            ("total", usd(cost["total"])),
            (
                "idle",
                f"{usd(cost['idle_this_month'])} of {usd(cost['this_month'])} this month was "
                "idle time at min replicas",
            ),
        ]
    )


def deployment_cost(client: Client, out: Output, args) -> int:
    data = client.get(f"deployments/{q(args.id)}/cost/")
    if out.as_json:
        out.json(data)
    else:
        out.line(render_cost(data))
    return EXIT_OK


def cost_summary(client: Client, out: Output, args) -> int:
    data = client.get("costs/")
    if out.as_json:
        out.json(data)
        return EXIT_OK
    pool = ("NODEPOOL", lambda r: f"{r['cluster_id']}/{r['nodepool_id']}")
    out.line(
        render_table(data["deployments"], cost_columns([("DEPLOYMENT", "deployment_id"), pool]))
    )
    out.line()
    out.line(render_table(data["nodepools"], cost_columns([pool])))
    out.line()
    out.line(render_table([{"owner": "you", "cost": data["owner"]}], cost_columns([("", "owner")])))
    return EXIT_OK


def register(group: CommandGroup) -> None:
    group.action("cost", deployment_cost, "what a deployment costs").add_argument("id")
    group.action(
        "costs", cost_summary, "what your deployments cost, per deployment, nodepool and in all"
    )
