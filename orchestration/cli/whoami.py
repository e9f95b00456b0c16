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
        out.line(f"{data['username']} at {client.base}")
    return EXIT_OK


def register(commands: Commands) -> None:
    commands.command("whoami", whoami, "check the URL and key")
