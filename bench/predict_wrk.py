"""Benchmark: the predict router against its replica and a bare limit, with wrk, side by side.

Run: .venv/bin/python bench/predict_wrk.py [--seconds 8] [--connections 1,16,64]
(needs a Docker engine; installs Debian's wrk when missing and run as root).
With RAY_VENV=/path/to/a/virtualenv where `ray[serve]` imports (e.g.
`RAY_VENV=/opt/ray-venv make bench`), it adds a Ray Serve row; without it, it says so.

It starts the product exactly as `make run` does (bench/soak.py's Product, N web workers
where N is the number of cores) in a throwaway state folder, deploys examples/noop with one
replica of one core, starts a second web server with 1 worker on the product's own
environment, and measures with wrk, on the same machine:

- bare: a standard-library HTTP server on the host answering the same JSON (the limit
  of a Python server here);
- replica direct: the replica's runner at the address the router uses (its container
  address on this host's bridge), and at its published port (through Docker's proxy);
- routed, 1 web worker and N web workers;
- Ray Serve HTTP proxy, when RAY_VENV is set: bench/ray_serve_app.py run by that
  virtualenv's python, a local Ray of 2 CPUs with one no-op replica of 1 CPU behind Serve's
  HTTP proxy, answering the bare server's JSON; in a phase of its own after the
  interleaved rows (Ray's processes take a share of the cores while it is up, and beside
  the other rows they slowed those, the router most);
- then HTTP and gRPC side by side from the same kind of Python client loop
  (bench/client_loop.py: httpx, clarifai-grpc's stub, the clarifai SDK), since no C load
  generator for Clarifai's gRPC is packaged here: their ratio compares the transports.

The rows of one concurrency run in turn, `--rounds` times, and each cell is the median of
its rounds: this machine's speed drifts by tens of percent from minute to minute (it is a
VM with steal time), and interleaving puts every row under the same drift.

wrk is a C load generator: a Python one on 2 cores measures itself, not the server.
Rate limits are off for the run (they are tested apart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import ROOT, Api, Product, free_port  # noqa: E402

BODY = {"inputs": [{"data": {"text": {"raw": "hello world"}}}]}
RAY_ROW = "Ray Serve HTTP proxy"
RAY_SKIPPED = "Ray Serve: skipped (set RAY_VENV to a virtualenv where ray[serve] imports)"
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
    done = subprocess.run(
        ["nice", wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
    )
    os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed on {url} at c={conns}: {done.stderr or done.stdout}")
    out = done.stdout
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


def ray_python() -> tuple[str | None, str]:
    """$RAY_VENV's python if `import ray.serve` works there: (python, ""), or (None, a
    note saying why the Ray Serve row is skipped)."""
    venv = os.environ.get("RAY_VENV", "")
    if not venv:
        return None, RAY_SKIPPED
    python = str(Path(venv) / "bin" / "python")
    try:
        done = subprocess.run(
            [python, "-c", "import ray.serve"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"Ray Serve: skipped (RAY_VENV={venv}: cannot run {python}: {error})"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return None, f"Ray Serve: skipped (RAY_VENV={venv}: import ray.serve failed: {lines[-1]})"
    return python, ""


def start_ray_serve(python: str, port: int, log: Path) -> subprocess.Popen:
    """bench/ray_serve_app.py on `port`, in its own process group, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [python, str(ROOT / "bench" / "ray_serve_app.py"), str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def wait_ray_serve(proc: subprocess.Popen, url: str, log: Path, timeout: float = 180) -> str:
    """Waits for the Ray Serve route to answer BODY with 200: "" then, or why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.post(url, json=BODY, timeout=5).status_code == 200:
                return ""
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    # The log goes with the state folder: its last lines go into the note.
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
    if proc.poll() is not None:
        return f"exited with status {proc.returncode}: {tail}"
    return f"did not answer within {timeout:.0f} s: {tail}"


def stop_ray_serve(proc: subprocess.Popen) -> None:
    """SIGTERM to the script alone, as it shuts Serve and Ray down in order itself, then
    SIGKILL to whatever is left of its process group."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


LOOP_ROWS = {
    "http": "HTTP, httpx loop",
    "grpc": "gRPC, clarifai-grpc stub loop",
    "sdk": "gRPC, clarifai SDK loop",
}


def client_loops(
    http: str, grpc: str, key: str, deployment: str, conns: list[int], seconds: int
) -> dict:
    """Rows of bench/client_loop.py, each transport in a fresh child process."""
    targets = {"http": http, "grpc": grpc, "sdk": grpc}
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


def print_spread(rows: dict[str, dict[int, dict]], conns: list[int]) -> None:
    print("spread of the rounds (rps, lowest-highest):")
    for name, by_conn in rows.items():
        cells = ", ".join(f"c={c}: {r['low']:.0f}-{r['high']:.0f}" for c, r in by_conn.items())
        print(f"  {name:28}{cells}")


def _published_address(product, replica: dict) -> str:
    """host:port of the replica's published port, from its container (docker CLI)."""
    labels = [
        f"orchestration.instance={product.instance}",
        f"orchestration.replica={replica['id']}",
    ]
    done = subprocess.run(
        ["docker", "ps", "-q", *(f"--filter=label={label}" for label in labels)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    container = done.stdout.split()[0] if done.stdout.split() else ""
    if not container:
        return ""
    port = subprocess.run(
        ["docker", "port", container, "8080/tcp"], capture_output=True, text=True, check=False
    ).stdout.split()
    return f"127.0.0.1:{port[0].rpartition(':')[2]}" if port else ""


def print_rows(rows: dict[str, dict[int, dict]], conns: list[int]) -> None:
    head = "".join(f" | c={c:<3} rps   p50 ms   p99 ms" for c in conns)
    print(f"{'row':30}{head}")
    for name, by_conn in rows.items():
        cells = "".join(
            f" | {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}" for r in by_conn.values()
        )
        errors = sum(r["errors"] for r in by_conn.values())
        print(f"{name:30}{cells}" + (f"  ({errors} non-2xx)" if errors else ""))


def side_web_server(product, port: int) -> subprocess.Popen:
    """A 1-worker web server beside the product's: the same command line as the run
    command's `web` program, on the web process's own environment."""
    pid = int(product.supervisorctl("pid", "web").strip())
    env = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        if "=" in item
    )
    env["WEB_CONCURRENCY"] = "1"
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "uvicorn"), "orchestration.asgi:application",
         "--http", "orchestration.http_protocol:HttpProtocol", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("[bench] the 1-worker web server did not answer within 60 s")


def median_cell(runs: list[dict]) -> dict:
    rps = sorted(r["rps"] for r in runs)
    return {
        "rps": statistics.median(rps),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "low": rps[0],
        "high": rps[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per cell and round")
    parser.add_argument("--rounds", type=int, default=3)
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
    env = {"PREDICT_RATE_LIMIT": "0", "WEB_CONCURRENCY": str(cores), "LOG_LEVEL": "WARNING"}
    product = Product(var_dir, env=env)
    side = None
    ray_proc = None
    ray_python_path, ray_note = ray_python()
    rows: dict[str, dict[int, dict]] = {}
    try:
        if not ray_python_path:
            print(f"[bench] {ray_note}", flush=True)
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
        replica = api.wait_ready("bench", 1)["replicas"][0]
        side_port = free_port()
        side = side_web_server(product, side_port)
        path = "/v2/users/me/deployments/bench/outputs"
        targets = [
            ("bare stdlib server", f"http://127.0.0.1:{bare_port}/", None),
            ("replica direct", f"http://{replica['address']}/predict", None),
        ]
        published = _published_address(product, replica)
        if published and published != replica["address"]:
            targets.append(("replica, published port", f"http://{published}/predict", None))
        targets += [
            ("routed, 1 web worker", f"http://127.0.0.1:{side_port}{path}", api.key),
            (f"routed, {cores} web workers", f"{product.url}{path}", api.key),
        ]
        for _, url, key in targets:
            if key:
                warm = httpx.post(url, json=BODY, headers={"Authorization": f"Key {key}"})
                if warm.status_code != 200:
                    sys.exit(f"[bench] {url} answered {warm.status_code}: {warm.text[:300]}")
        runs: dict[str, dict[int, list[dict]]] = {name: {} for name, _, _ in targets}
        for c in conns:
            for _ in range(args.rounds):
                for name, url, key in targets:
                    body = {"inputs": [BODY["inputs"][0]["data"]]} if "replica" in name else BODY
                    cell = run_wrk(wrk, url, body, key, c, args.seconds)
                    runs[name].setdefault(c, []).append(cell)
            print(f"[bench] c={c} done", flush=True)
        if ray_python_path:
            # A phase of its own, after the interleaved rows: Ray's own processes (raylet,
            # GCS, Serve's controller and proxy) take a share of the 2 cores while it is
            # up, which slowed every other row (the Python router most) when it ran
            # beside them. Ray's row is a peer for scale, not a ratio within the drift.
            ray_port = free_port()
            ray_log = var_dir / "ray-serve.log"
            print(f"[bench] starting Ray Serve with {ray_python_path}", flush=True)
            ray_proc = start_ray_serve(ray_python_path, ray_port, ray_log)
            ray_url = f"http://127.0.0.1:{ray_port}/"
            why = wait_ray_serve(ray_proc, ray_url, ray_log)
            if why:
                ray_note = f"Ray Serve: skipped (bench/ray_serve_app.py {why})"
                print(f"[bench] {ray_note}", flush=True)
            else:
                for c in conns:
                    runs[RAY_ROW] = runs.get(RAY_ROW, {})
                    for _ in range(args.rounds):
                        cell = run_wrk(wrk, ray_url, BODY, None, c, args.seconds)
                        runs[RAY_ROW].setdefault(c, []).append(cell)
                print("[bench] Ray Serve done", flush=True)
            stop_ray_serve(ray_proc)
            ray_proc = None
        rows = {name: {c: median_cell(r) for c, r in by.items()} for name, by in runs.items()}
        loops = client_loops(
            f"http://127.0.0.1:{side_port}",
            f"127.0.0.1:{product.env['GRPC_PORT']}",
            api.key,
            "bench",
            [c for c in conns if c <= 16],
            args.seconds,
        )
    finally:
        bare.kill()
        if side is not None:
            side.terminate()
        if ray_proc is not None:
            stop_ray_serve(ray_proc)
        product.stop()
        subprocess.run(["rm", "-rf", str(var_dir)], check=False)

    day = time.strftime("%Y-%m-%d")
    print(
        f"\npredict benchmark, {day}, {cores} cores, wrk -t1, median of {args.rounds} "
        f"interleaved rounds of {args.seconds}s per cell"
    )
    print_rows(rows, conns)
    print_spread(rows, conns)
    direct = rows["replica direct"]
    for name in [n for n in rows if n.startswith(("routed", "replica,")) or n == RAY_ROW]:
        ratios = ", ".join(
            f"c={c}: {rows[name][c]['rps'] / direct[c]['rps']:.2f}x rps, "
            f"+{rows[name][c]['p50'] - direct[c]['p50']:.2f} ms p50, "
            f"p99 {rows[name][c]['p99'] / direct[c]['p99']:.1f}x"
            for c in conns
        )
        print(f"{name} / replica direct: {ratios}")
    if ray_note:
        print(ray_note)
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
