"""The in-container model server, run as a plain subprocess with the example models."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "orchestration" / "runner" / "server.py"
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Runner:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return httpx.post(self.url + path, timeout=10, **kwargs)

    def predict(self, *texts: str) -> httpx.Response:
        return self.post("/predict", json={"inputs": [{"text": {"raw": t}} for t in texts]})

    def wait(self, status: str = "ready", timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}")
            try:
                last = self.get("/healthz").json()
                if last["status"] == status:
                    return last
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"healthz never reached {status!r}; last: {last}")


@pytest.fixture
def start_runner() -> Iterator[Callable[..., Runner]]:
    procs: list[subprocess.Popen[str]] = []

    def start(model_dir: Path, **env: str) -> Runner:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--model-dir", str(model_dir), "--port", str(port)],
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return Runner(proc, port)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def write_model(tmp_path: Path, source: str) -> Path:
    (tmp_path / "1").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.yaml").write_text("model:\n  id: custom\n")
    (tmp_path / "1" / "model.py").write_text(textwrap.dedent(source))
    return tmp_path


def top(output: dict) -> str:
    return output["concepts"][0]["id"]


def test_sentiment_predictions(start_runner):
    runner = start_runner(EXAMPLES / "sentiment")
    health = runner.wait()
    assert health["in_flight"] == 0

    response = runner.predict(
        "I love this, it is wonderful",
        "terrible awful experience",
        "This is not good",
        "not bad at all",
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    outputs = response.json()["outputs"]
    assert [top(o) for o in outputs] == ["positive", "negative", "negative", "positive"]
    for output in outputs:
        values = [c["value"] for c in output["concepts"]]
        assert values == sorted(values, reverse=True)
        assert sum(values) == pytest.approx(1.0)
        assert {c["id"] for c in output["concepts"]} == {"positive", "negative"}
        assert all(c["name"] == c["id"] for c in output["concepts"])


def test_noop_echoes_and_keeps_connection_alive(start_runner):
    runner = start_runner(EXAMPLES / "noop")
    runner.wait()
    conn = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=10)
    try:
        first_socket = None
        for i in range(20):
            body = json.dumps({"inputs": [{"text": {"raw": f"hello {i}"}}, {"text": {}}]})
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = json.loads(response.read())
            assert response.status == 200
            assert payload == {
                "outputs": [{"text": {"raw": f"hello {i}"}}, {"text": {"raw": ""}}],
                "batch_size": 2,
            }
            first_socket = first_socket or conn.sock
            # http.client reopens silently when the server closes; the same socket
            # object throughout proves the connection was reused.
            assert conn.sock is first_socket
        conn.request("GET", "/healthz")
        health = conn.getresponse()
        assert health.status == 200
        assert json.loads(health.read())["served"] == 20
    finally:
        conn.close()


def test_failing_model_returns_500_and_survives(start_runner):
    runner = start_runner(EXAMPLES / "failing")
    runner.wait()
    for _ in range(3):
        response = runner.predict("anything")
        assert response.status_code == 500
        assert response.json() == {"error": "ValueError: this model always fails"}
    health = runner.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ready"
    assert runner.proc.poll() is None


def test_request_validation(start_runner):
    runner = start_runner(EXAMPLES / "noop", MAX_REQUEST_BYTES="2000")
    runner.wait()

    bad_json = runner.post("/predict", content=b"{not json", headers={"content-type": "x"})
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]

    for body in ({}, {"inputs": "hi"}, [1, 2], {"inputs": [1]}):
        response = runner.post("/predict", json=body)
        assert response.status_code == 400, body
        assert "error" in response.json()

    big = runner.predict("x" * 5000)
    assert big.status_code == 413
    assert "2000 byte limit" in big.json()["error"]

    assert runner.get("/").status_code == 404
    assert runner.get("/nope").json() == {"error": "no route for GET /nope"}
    assert runner.post("/other", json={}).status_code == 404
    assert runner.get("/predict").status_code == 405

    empty = runner.post("/predict", json={"inputs": []})
    assert empty.status_code == 200
    assert empty.json() == {"outputs": [], "batch_size": 0}
    # Still serving after all of the above.
    assert runner.predict("ok").json() == {"outputs": [{"text": {"raw": "ok"}}], "batch_size": 1}


def test_oversize_rejected_before_body_with_expect_continue(start_runner):
    runner = start_runner(EXAMPLES / "noop", MAX_REQUEST_BYTES="100")
    runner.wait()
    with socket.create_connection(("127.0.0.1", runner.port), timeout=5) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413")


def test_loading_then_ready(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        import time

        class Slow:
            def load_model(self):
                time.sleep(1.5)
                self.ready = True

            def predict(self, inputs):
                return [{"text": {"raw": "loaded"}} for _ in inputs]
        """,
    )
    runner = start_runner(model_dir)
    loading = runner.wait("loading")
    assert loading["in_flight"] == 0
    assert runner.get("/healthz").status_code == 503
    early = runner.predict("x")
    assert early.status_code == 503
    assert "loading" in early.json()["error"]
    runner.wait("ready")
    assert runner.predict("x").json() == {"outputs": [{"text": {"raw": "loaded"}}], "batch_size": 1}


def test_load_failure_reported(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        class Broken:
            def load_model(self):
                raise RuntimeError("weights missing")

            def predict(self, inputs):
                return inputs
        """,
    )
    runner = start_runner(model_dir)
    health = runner.wait("failed")
    assert health["error"] == "RuntimeError: weights missing"
    assert runner.get("/healthz").status_code == 500
    response = runner.predict("x")
    assert response.status_code == 503
    assert "weights missing" in response.json()["error"]


def test_wrong_output_count_is_500(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        class Base:
            def predict(self, inputs):
                raise NotImplementedError

        class Short(Base):
            def predict(self, inputs):
                return [{"text": {"raw": "only one"}}]
        """,
    )
    runner = start_runner(model_dir)
    runner.wait()
    assert runner.predict("a").status_code == 200
    response = runner.predict("a", "b", "c")
    assert response.status_code == 500
    assert "returned 1 outputs for 3 inputs" in response.json()["error"]


def test_in_flight_and_concurrency_limit(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        import time

        class Sleepy:
            def predict(self, inputs):
                time.sleep(0.6)
                return [{"text": {"raw": "done"}} for _ in inputs]
        """,
    )
    runner = start_runner(model_dir, MODEL_CONCURRENCY="1")
    runner.wait()
    results: list[int] = []

    def call() -> None:
        results.append(runner.predict("x").status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert runner.get("/healthz").json()["in_flight"] == 3
    for thread in threads:
        thread.join()
    # One at a time through the model: three calls take three sleeps.
    assert time.monotonic() - began >= 1.7
    assert results == [200, 200, 200]
    assert runner.get("/healthz").json()["in_flight"] == 0


def test_sigterm_stops_promptly(start_runner):
    runner = start_runner(EXAMPLES / "noop")
    runner.wait()
    began = time.monotonic()
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.proc.wait(timeout=5) == 0
    assert time.monotonic() - began < 3
