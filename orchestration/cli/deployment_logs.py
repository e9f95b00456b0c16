"""`orchestrate deployment logs ID [--replica N] [--follow]`: replicas' container output,
from the API's logs endpoint; --follow polls it with `since` for the newer lines."""

from __future__ import annotations

import argparse
import json
import sys
import time

from orchestration.cli.arguments import CommandGroup
from orchestration.cli.client import EXIT_API, EXIT_OK, Client, q
from orchestration.cli.output import Output


def deployment_logs(client: Client, out: Output, args) -> int:
    path = f"deployments/{q(args.id)}/logs/"
    params: dict[str, str] = {"tail": str(args.tail)}
    if args.replica is not None:
        params["replica"] = str(args.replica)
    data = client.get(path, params=params)
    errors: dict[int, str] = {}
    if out.as_json and not args.follow:
        out.json(data)  # the API's answer as it is; --follow prints a JSON line per line
    else:
        _print(out, args, data, errors)
    if not args.follow:
        readable = [r for r in data["replicas"] if not r["error"]]
        return EXIT_OK if readable or not data["replicas"] else EXIT_API
    try:
        while args.replica is None or any(r["following"] for r in data["replicas"]):
            time.sleep(args.interval)
            if data["next_since"]:
                params["since"] = data["next_since"]
            data = client.get(path, params=params)
            _print(out, args, data, errors)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def _print(out: Output, args, data: dict, errors: dict[int, str]) -> None:
    """The new lines on stdout; each replica's error on stderr, once until it changes."""
    for replica in data["replicas"]:
        error = replica["error"]
        if error and errors.get(replica["id"]) != error:
            out.progress(f"replica {replica['id']}: {error}")
        errors[replica["id"]] = error
    if not data["replicas"] and not errors.get(0):
        out.progress(f"deployment {data['deployment_id']} has no replica with a container now")
        errors[0] = "none"
    for line in data["lines"]:
        if out.as_json:
            text = json.dumps(line)
        else:
            text = line["text"]
            if args.timestamps:
                text = f"{line['at']} {text}"
            if args.replica is None:
                text = f"[{line['replica']}] {text}"
        print(text)
    sys.stdout.flush()


def add_logs_action(group: CommandGroup) -> None:
    p = group.action(
        "logs", deployment_logs, "print replicas' logs (stdout and stderr); --follow for new lines"
    )
    p.add_argument("id")
    p.add_argument(
        "--replica",
        type=int,
        metavar="N",
        help="only this replica (its id, as in `deployment get`); default: every current one, "
        "each line prefixed with [N]",
    )
    p.add_argument("--tail", type=int, default=200, metavar="LINES", help="lines (1-2000, 200)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.add_argument("--timestamps", "-t", action="store_true", help="print each line's time")
    p.add_argument(
        "--interval", type=_positive, default=2.0, help="seconds between polls (--follow)"
    )


def _positive(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("must be from 0.1 to 3600 seconds")
    return seconds
