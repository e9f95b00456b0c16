"""Building blocks of the command tree: the options every command takes, and the helpers
with which each command module registers its commands and their handlers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from orchestration.cli.client import Client
from orchestration.cli.output import Output

# What `set_defaults(func=...)` stores: runs one command, returns its exit code.
Handler = Callable[[Client, Output, argparse.Namespace], int]


def connection_options() -> argparse.ArgumentParser:
    """--url, --key, --json and --http-timeout, accepted before or after the command.

    Their defaults are suppressed so that a value given before the command is not
    overwritten by the subcommand's default.
    """
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


class Commands:
    """The top level of the tree: `orchestrate COMMAND ...`."""

    def __init__(self, parser: argparse.ArgumentParser, common: argparse.ArgumentParser):
        self.common = common
        self.subparsers = parser.add_subparsers(dest="resource", metavar="COMMAND", required=True)

    def command(
        self, name: str, func: Handler, help_text: str, **kwargs
    ) -> argparse.ArgumentParser:
        parser = self.subparsers.add_parser(name, help=help_text, parents=[self.common], **kwargs)
        parser.set_defaults(func=func)
        return parser

    def group(self, name: str, help_text: str) -> CommandGroup:
        parser = self.subparsers.add_parser(name, help=help_text, description=help_text)
        return CommandGroup(self.common, parser)


class CommandGroup:
    """`orchestrate GROUP ACTION ...`, e.g. `orchestrate cluster list`."""

    def __init__(self, common: argparse.ArgumentParser, parser: argparse.ArgumentParser):
        self.common = common
        self.actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(self, name: str, func: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = self.actions.add_parser(
            name, help=help_text, description=help_text, parents=[self.common]
        )
        parser.set_defaults(func=func)
        return parser


def number_or_text(value: str) -> Any:
    """ "8589934592" -> int, "2" -> int, "0.5" -> float, "8Gi" / "500m" -> as given (the
    server parses quantities)."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value
