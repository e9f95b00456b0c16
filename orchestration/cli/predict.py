"""`orchestrate predict MODEL INPUT`: one prediction through the Clarifai-compatible API."""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

from orchestration.cli.arguments import Commands
from orchestration.cli.client import EXIT_API, EXIT_OK, EXIT_USAGE, Client, CliError, q
from orchestration.cli.output import Output, render_table

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
STATUS_SUCCESS = 10000  # Clarifai's status code for a successful call
CONCEPT_BAR_WIDTH = 30


def predict(client: Client, out: Output, args) -> int:
    body: dict[str, Any] = {"inputs": [{"data": predict_input(args.input, args.type)}]}
    if args.deployment:
        body["runner_selector"] = {"deployment": {"id": args.deployment}}
    path = f"/v2/models/{q(args.model)}/"
    if args.version:
        path += f"versions/{q(args.version)}/"
    path += "outputs"
    started = time.monotonic()
    data = client.request("POST", path, json=body, timeout=args.predict_timeout)
    elapsed = (time.monotonic() - started) * 1000
    if out.as_json:
        out.json(data)
        return EXIT_OK
    status = (data or {}).get("status") or {}
    if status.get("code", STATUS_SUCCESS) != STATUS_SUCCESS:
        raise CliError(EXIT_API, f"{status.get('description')}: {status.get('details', '')}")
    for output in data.get("outputs") or []:
        if len(data["outputs"]) > 1:
            out.line(f"# input {output.get('input', {}).get('id', '')}")
        out.line(render_output(output.get("data") or {}))
    out.progress(f"({elapsed:.0f} ms)")
    return EXIT_OK


def _looks_like_image(path: Path, data: bytes) -> bool:
    return (
        path.suffix.lower() in IMAGE_SUFFIXES
        or data.startswith(IMAGE_MAGIC)
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def predict_input(text: str, kind: str) -> dict:
    """The `data` object for TEXT, @FILE (text or image) or @- (stdin)."""
    if text.startswith("@@"):
        return {"text": {"raw": text[1:]}}
    if text.startswith("@"):
        name = text[1:]
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CliError(EXIT_USAGE, f"cannot read {name}: {exc}") from None
        if kind == "image" or (kind == "auto" and _looks_like_image(Path(name), data)):
            return {"image": {"base64": base64.b64encode(data).decode()}}
        try:
            return {"text": {"raw": data.decode("utf-8")}}
        except UnicodeDecodeError:
            raise CliError(
                EXIT_USAGE, f"{name} is neither UTF-8 text nor a known image type"
            ) from None
    if kind == "image":
        raise CliError(EXIT_USAGE, "--type image needs @FILE")
    return {"text": {"raw": text}}


def render_output(data: dict) -> str:
    """Concepts as a ranked table with bars, text as it is, anything else as JSON."""
    concepts = data.get("concepts")
    if isinstance(concepts, list) and concepts:
        ranked = sorted(concepts, key=lambda c: -float(c.get("value", 0) or 0))
        rows = [
            {
                "rank": i,
                "concept": c.get("name") or c.get("id"),
                "value": float(c.get("value", 0) or 0),
            }
            for i, c in enumerate(ranked, 1)
        ]
        return render_table(
            rows,
            [
                ("#", "rank"),
                ("CONCEPT", "concept"),
                ("VALUE", lambda r: f"{r['value']:.4f}"),
                ("", _bar),
            ],
        )
    text = data.get("text")
    if isinstance(text, dict) and "raw" in text:
        return str(text["raw"])
    return json.dumps(data, indent=2)


def _bar(row: dict) -> str:
    return "█" * max(0, min(CONCEPT_BAR_WIDTH, round(row["value"] * CONCEPT_BAR_WIDTH)))


def register(commands: Commands) -> None:
    p = commands.command(
        "predict",
        predict,
        "predict with a model",
        description="Send TEXT, or @FILE (text or image; @- reads stdin; @@text sends '@text')",
    )
    p.add_argument("model", help="model id")
    p.add_argument("input", metavar="TEXT-or-@FILE")
    p.add_argument("--deployment", help="deployment to use (default: the shared deployment)")
    p.add_argument("--version", help="model version id")
    p.add_argument("--type", choices=["auto", "text", "image"], default="auto")
    p.add_argument(
        "--timeout",
        dest="predict_timeout",
        type=float,
        default=300,
        help="seconds to wait (a cold start can take minutes)",
    )
