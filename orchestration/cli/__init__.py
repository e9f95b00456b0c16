"""`orchestrate`: the command-line client of the management API and the predict API.

Configuration: ORCHESTRATE_URL (the portal's address, default http://127.0.0.1:8000) and
ORCHESTRATE_KEY (a personal access token from the portal's API keys page), or --url/--key.

Output: tables for people, `--json` for scripts (the API's JSON, unchanged). Errors go to
stderr. Exit codes: 0 ok, 1 the API refused or the operation failed (a failed build, a
failed deployment), 2 usage error (bad arguments, unreadable file, no key), 3 cannot reach
the server, 4 timed out waiting (model build, --until-ready).

Standard library, httpx and `orchestration.constants` only: no Django here, so the client
runs anywhere (a test checks that `orchestrate --help` leaves Django unloaded).

Layout: `client` (HTTP and exit codes), `output` (tables, JSON), `arguments` (shared
options, registration helpers), one module per command group, `parser` assembling them.
"""

from __future__ import annotations

import json
import os
import sys

from orchestration.cli.client import DEFAULT_URL, EXIT_OK, EXIT_USAGE, Client, CliError
from orchestration.cli.output import Output
from orchestration.cli.parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None, *, transport=None) -> int:
    """Run one command; returns its exit code. `transport` is httpx's, for tests."""
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
        key = _checked_key(key)
        client = Client(url, key, timeout=getattr(args, "http_timeout", 30.0), transport=transport)
        return args.func(client, out, args)
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


def _checked_key(key: str) -> str:
    if not key.strip():
        raise CliError(
            EXIT_USAGE,
            "no access token: set ORCHESTRATE_KEY or pass --key "
            "(create one on the portal's API keys page)",
        )
    key = key.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise CliError(EXIT_USAGE, "the access token contains spaces or line breaks")
    return key
