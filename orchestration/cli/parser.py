"""The `orchestrate` argument parser, put together from the command modules; each command's
parser carries its handler as `func`."""

from __future__ import annotations

import argparse

from orchestration.cli import (
    cluster,
    deployment,
    model,
    node,
    nodepool,
    organization,
    predict,
    whoami,
)
from orchestration.cli.arguments import Commands, connection_options

# In the order `orchestrate --help` lists them.
COMMAND_MODULES = (cluster, nodepool, node, model, deployment, predict, organization, whoami)

EPILOG = """\
configuration:
  ORCHESTRATE_URL   the portal's address (default http://127.0.0.1:8000), or --url
  ORCHESTRATE_KEY   a personal access token (portal: API keys), or --key

exit codes:
  0 ok · 1 API error or failed operation · 2 usage error · 3 cannot reach the server
  4 timed out waiting
"""


def build_parser() -> argparse.ArgumentParser:
    common = connection_options()
    parser = argparse.ArgumentParser(
        prog="orchestrate",
        description="Manage compute, models and deployments of a Compute Orchestration portal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = Commands(parser, common)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser
