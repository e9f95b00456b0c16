"""Benchmark: the predict router against its replica and a bare limit, with wrk, side by side.

Run: .venv/bin/python bench/predict_wrk.py [--seconds 8] [--connections 1,16,64]
(needs a Docker engine; installs Debian's wrk when missing and run as root).

It starts the product exactly as `make run` does (bench/soak.py's Product) in a
throwaway state folder, deploys examples/noop with one replica of one core, and measures with wrk,
one row after another on the same machine:

- bare: a standard-library HTTP server on the host answering the same JSON (the limit
  of a Python server here);
- direct: the replica's runner, at its published port;
- routed, 1 web worker and N web workers (N = cores, `WEB_CONCURRENCY`);
- then HTTP and gRPC side by side from the same kind of Python client loop
  (bench/client_loop.py: httpx, clarifai-grpc's stub, the clarifai SDK), since no C load
  generator for Clarifai's gRPC is packaged here: their ratio compares the transports.

wrk is a C load generator: a Python one on 2 cores measures itself, not the server.
Rate limits are off for the run (they are tested apart).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import ROOT, Api, Product, free_port  # noqa: E402

BODY = {"inputs": [{"data": {"text": {"raw": "hello world"}}}]}
BARE_SERVER = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        text = json.loads(body)["inputs"][0]["data"]["text"]["raw"]
        out = json.dumps({"outputs": [{"data": {"text": {"raw": text}}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""
LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
        )
        return shutil.which("wrk") or "wrk"
    sys.exit("wrk is not installed: run 'sudo apt-get install wrk'")


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group())
    unit = text[len(re.match(r"[\d.]+", text).group()) :]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(wrk: str, url: str, body: dict, key: str | None, conns: int, seconds: int) -> dict:
    auth = f'wrk.headers["Authorization"] = "Key {key}"' if key else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=json.dumps(json.dumps(body)), auth=auth))
    # niced, as the load generator shares the cores with what it measures.
    out = subprocess.run(
        ["nice", wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if "50" not in latency or "99" not in latency:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(latency["50"]),
        "p99": _ms(latency["99"]),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


LOOP_ROWS = {
    "http": "HTTP, httpx loop",
    "grpc": "gRPC, clarifai-grpc stub loop",
    "sdk": "gRPC, clarifai SDK loop",
}


def client_loops(product, key: str, deployment: str, conns: list[int], seconds: int) -> dict:
    """Rows of bench/client_loop.py, each transport in a fresh child process."""
    targets = {"http": product.url, "grpc": f"127.0.0.1:{product.env['GRPC_PORT']}"}
    targets["sdk"] = targets["grpc"]
    rows: dict[str, dict[int, dict]] = {}
    for kind, name in LOOP_ROWS.items():
        rows[name] = {}
        for c in conns:
            done = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "client_loop.py"), kind, targets[kind],
                 key, deployment, str(c), str(seconds)],
                capture_output=True, text=True, timeout=seconds * 4 + 120, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                sys.exit(f"[bench] {name} failed: {done.stderr[-2000:]}")
            rows[name][c] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"[bench] {name} done", flush=True)
    return rows


def print_rows(rows: dict[str, dict[int, dict]], conns: list[int]) -> None:
    head = "".join(f" | c={c:<3} rps   p50 ms   p99 ms" for c in conns)
    print(f"{'row':30}{head}")
    for name, by_conn in rows.items():
        cells = "".join(
            f" | {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}" for r in by_conn.values()
        )
        errors = sum(r["errors"] for r in by_conn.values())
        print(f"{name:30}{cells}" + (f"  ({errors} non-2xx)" if errors else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", default="1,16,64")
    args = parser.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    wrk = ensure_wrk()
    cores = os.cpu_count() or 1

    bare_port = free_port()
    # Its tracebacks when wrk drops connections at the end of a run are noise.
    bare = subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER, str(bare_port)], stderr=subprocess.DEVNULL
    )
    var_dir = Path(tempfile.mkdtemp(prefix="orchestration-wrk-"))
    env = {"PREDICT_RATE_LIMIT": "0", "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"}
    product = Product(var_dir, env=env)
    rows: dict[str, dict[int, dict]] = {}
    try:
        print(f"[bench] starting the product (state in {var_dir})", flush=True)
        product.start()
        api = Api(product, product.issue_key())
        # One whole core for the replica: examples/noop asks for 250m, and at a quarter
        # core CFS throttling (25 ms of every 100 ms) sets the replica's p99, not the code.
        model_dir = var_dir / "noop-1cpu"
        shutil.copytree(ROOT / "examples" / "noop", model_dir)
        config = model_dir / "config.yaml"
        config.write_text(config.read_text().replace('cpu_limit: "250m"', 'cpu_limit: "1"'))
        api.cli("model", "upload", str(model_dir))
        api.deploy("bench", "noop", "shared", "shared", min_replicas=1, max_replicas=1)
        replica = api.wait_ready("bench", 1)["replicas"][0]["address"]
        routed_url = f"{product.url}/v2/users/me/deployments/bench/outputs"
        warm = httpx.post(routed_url, json=BODY, headers={"Authorization": f"Key {api.key}"})
        if warm.status_code != 200:
            sys.exit(f"[bench] the routed path answered {warm.status_code}: {warm.text[:300]}")
        targets = [
            ("bare stdlib server", f"http://127.0.0.1:{bare_port}/", None),
            ("replica direct", f"http://{replica}/predict", None),
            ("routed, 1 web worker", routed_url, api.key),
        ]
        for name, url, key in targets:
            body = {"inputs": [BODY["inputs"][0]["data"]]} if "direct" in name else BODY
            rows[name] = {c: run_wrk(wrk, url, body, key, c, args.seconds) for c in conns}
            print(f"[bench] {name} done", flush=True)
        loops = client_loops(product, api.key, "bench", [c for c in conns if c <= 16], args.seconds)
        if cores > 1:
            product.interrupt()
            product.env["WEB_CONCURRENCY"] = str(cores)
            product.start()
            api.wait_ready("bench", 1)
            httpx.post(routed_url, json=BODY, headers={"Authorization": f"Key {api.key}"})
            name = f"routed, {cores} web workers"
            rows[name] = {
                c: run_wrk(wrk, routed_url, BODY, api.key, c, args.seconds) for c in conns
            }
    finally:
        bare.kill()
        product.stop()
        subprocess.run(["rm", "-rf", str(var_dir)], check=False)

    day = time.strftime("%Y-%m-%d")
    print(f"\npredict benchmark, {day}, {cores} cores, wrk -t1 -d{args.seconds}s")
    print_rows(rows, conns)
    direct = rows["replica direct"]
    for name in [n for n in rows if n.startswith("routed")]:
        ratios = ", ".join(
            f"c={c}: {rows[name][c]['rps'] / direct[c]['rps']:.2f}x rps, "
            f"+{rows[name][c]['p50'] - direct[c]['p50']:.2f} ms p50, "
            f"p99 {rows[name][c]['p99'] / direct[c]['p99']:.1f}x"
            for c in conns
        )
        print(f"{name} / replica direct: {ratios}")
    loop_conns = [c for c in conns if c <= 16]
    print(
        "\nHTTP and gRPC from Python client loops (1 web worker, 1 gRPC process), "
        f"{args.seconds}s per cell, threads as connections"
    )
    print_rows(loops, loop_conns)
    http = loops[LOOP_ROWS["http"]]
    for kind in ("grpc", "sdk"):
        ratios = ", ".join(
            f"c={c}: {loops[LOOP_ROWS[kind]][c]['rps'] / http[c]['rps']:.2f}x rps, "
            f"{loops[LOOP_ROWS[kind]][c]['p50'] - http[c]['p50']:+.2f} ms p50"
            for c in loop_conns
        )
        print(f"{LOOP_ROWS[kind]} / HTTP, httpx loop: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
