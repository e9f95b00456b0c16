"""`orchestrate whoami`: checks the URL and the access token by asking who they belong to."""

from __future__ import annotations

from orchestration.cli.arguments import Commands
from orchestration.cli.client import EXIT_OK, Client
from orchestration.cli.output import Output


def whoami(client: Client, out: Output, args) -> int:
    data = client.get("me/")
    if out.as_json:
        out.json(data)
    else:
        where = data.get("space", data["username"])
        if where == data["username"]:
            out.line(f"{data['username']} at {client.base}")
        else:
            # A key scoped to an organization: every command acts there, with this role.
            out.line(
                f"{data['username']} in organization {where} ({data['role']}) at {client.base}"
            )
    return EXIT_OK


def register(commands: Commands) -> None:
    commands.command("whoami", whoami, "check the URL and key")
