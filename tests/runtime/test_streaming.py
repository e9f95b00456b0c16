"""Streaming in the runner: POST /generate serves a model's generate() as NDJSON chunks."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.runtime.test_runner import EXAMPLES, write_model

# Each input's text names a file: the generator yields, then waits for the test to
# create "<file>.go" before its second chunk, and writes "<file>.closed" in its finally.
GATED = """
import os
import time

class Gated:
    def predict(self, inputs):
        return [{"text": {"raw": "whole"}} for _ in inputs]

    def generate(self, inputs):
        path = inputs[0]["text"]["raw"]
        try:
            yield [{"text": {"raw": "first"}} for _ in inputs]
            deadline = time.monotonic() + 20
            while not os.path.exists(path + ".go") and time.monotonic() < deadline:
                time.sleep(0.01)
            for i in range(2000):
                yield [{"text": {"raw": f" more {i}"}} for _ in inputs]
                if i == 2 and path.endswith("short"):
                    return
                if path.endswith("fail") and i == 1:
                    raise ValueError("ran dry")
                time.sleep(0.01)
        finally:
            with open(path + ".closed", "w") as fh:
                fh.write("closed")
"""


def wait_for(path: Path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


def body(*texts: str) -> dict:
    return {"inputs": [{"text": {"raw": t}} for t in texts]}


def test_first_chunk_arrives_before_the_generator_finishes(start_runner, tmp_path):
    runner = start_runner(write_model(tmp_path / "m", GATED))
    health = runner.wait()
    assert health["generate"] is True
    flag = tmp_path / "short"
    with httpx.Client(base_url=runner.url, timeout=30) as client:
        with client.stream("POST", "/generate", json=body(str(flag), "second input")) as reply:
            assert reply.status_code == 200
            assert reply.headers["content-type"] == "application/x-ndjson"
            assert reply.headers["transfer-encoding"] == "chunked"
            lines = reply.iter_lines()
            first = json.loads(next(lines))
            # The generator is still blocked on the flag: this line came out on its own.
            assert first == {"outputs": [{"text": {"raw": "first"}}, {"text": {"raw": "first"}}]}
            assert not (tmp_path / "short.closed").exists()
            assert runner.get("/healthz").json()["in_flight"] == 1
            (tmp_path / "short.go").touch()
            rest = [json.loads(line) for line in lines if line]
        assert [o["outputs"][0]["text"]["raw"] for o in rest] == [" more 0", " more 1", " more 2"]
        assert all(len(o["outputs"]) == 2 for o in rest)
        # The stream ended cleanly: the same connection serves the next request.
        again = client.post("/predict", json=body("x"))
        assert again.json() == {"outputs": [{"text": {"raw": "whole"}}], "batch_size": 1}
    health = runner.get("/healthz").json()
    assert (health["in_flight"], health["streams"], health["streams_disconnected"]) == (0, 1, 0)


def test_a_client_that_leaves_stops_the_generator(start_runner, tmp_path):
    runner = start_runner(write_model(tmp_path / "m", GATED))
    runner.wait()
    flag = tmp_path / "leave"
    (tmp_path / "leave.go").touch()  # it streams a chunk every 10 ms for 20 s
    payload = json.dumps(body(str(flag))).encode()
    with socket.create_connection(("127.0.0.1", runner.port), timeout=10) as sock:
        sock.sendall(
            b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        received = b""
        while b"more 3" not in received:
            received += sock.recv(4096)
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    began = time.monotonic()
    # The model's finally ran soon after, not 20 s of chunks later.
    assert wait_for(tmp_path / "leave.closed", timeout=5)
    assert time.monotonic() - began < 5
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        health = runner.get("/healthz").json()
        if health["in_flight"] == 0:
            break
        time.sleep(0.05)
    assert health["in_flight"] == 0
    assert health["streams_disconnected"] == 1
    assert runner.proc.poll() is None


def test_a_model_error_mid_stream_is_the_last_line(start_runner, tmp_path):
    runner = start_runner(write_model(tmp_path / "m", GATED))
    runner.wait()
    flag = tmp_path / "fail"
    (tmp_path / "fail.go").touch()
    conn = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=10)
    try:
        conn.request("POST", "/generate", json.dumps(body(str(flag))))
        reply = conn.getresponse()
        assert reply.status == 200
        lines = [json.loads(line) for line in reply.read().splitlines()]
        assert lines == [
            {"outputs": [{"text": {"raw": "first"}}]},
            {"outputs": [{"text": {"raw": " more 0"}}]},
            {"outputs": [{"text": {"raw": " more 1"}}]},
            {"error": "ValueError: ran dry"},
        ]
        assert (tmp_path / "fail.closed").exists()
        # Still keep-alive after an error line.
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


BAD_CHUNKS = """
class Bad:
    def generate(self, inputs):
        raw = inputs[0]["text"]["raw"]
        if raw == "at once":
            raise RuntimeError("no words today")
        yield [{"text": {"raw": "ok"}} for _ in inputs]
        if raw == "short chunk":
            yield [{"text": {"raw": "only one"}}]
        if raw == "not json":
            yield [{"value": {1, 2}} for _ in inputs]
"""


def test_generate_only_model_and_bad_chunks(start_runner, tmp_path):
    runner = start_runner(write_model(tmp_path, BAD_CHUNKS))
    health = runner.wait()
    assert (health["model"], health["predict"], health["generate"]) == ("Bad", False, True)

    predict = runner.post("/predict", json=body("x"))
    assert predict.status_code == 501
    assert "no predict(self, inputs) method" in predict.json()["error"]

    def lines(*texts: str) -> list[dict]:
        reply = runner.post("/generate", json=body(*texts))
        assert reply.status_code == 200, reply.text
        return [json.loads(line) for line in reply.text.splitlines()]

    assert lines("fine") == [{"outputs": [{"text": {"raw": "ok"}}]}]
    assert lines("short chunk", "b")[-1] == {
        "error": "OutputError: generate yielded 1 outputs for 2 inputs; "
        "it must yield exactly one output per input, in order"
    }
    assert lines("not json")[-1]["error"].startswith(
        "OutputError: generate output is not JSON serializable"
    )

    # Failing before its first chunk: a plain error response, as predict gives.
    at_once = runner.post("/generate", json=body("at once"))
    assert at_once.status_code == 500
    assert at_once.json() == {"error": "RuntimeError: no words today"}

    # No inputs: an empty stream, the model is not called.
    empty = runner.post("/generate", json={"inputs": []})
    assert (empty.status_code, empty.text) == (200, "")
    assert runner.get("/healthz").json()["in_flight"] == 0


def test_generate_request_errors(start_runner, tmp_path):
    runner = start_runner(EXAMPLES / "noop")
    runner.wait()
    reply = runner.post("/generate", json=body("x"))
    assert reply.status_code == 501
    assert reply.json() == {"error": "this model has no generate(self, inputs) method"}
    assert runner.get("/generate").status_code == 405

    streaming = start_runner(write_model(tmp_path, GATED))
    streaming.wait()
    for bad in ({}, {"inputs": "hi"}, {"inputs": [1]}):
        response = streaming.post("/generate", json=bad)
        assert response.status_code == 400, bad
        assert "error" in response.json()
    invalid = streaming.post("/generate", content=b"{nope")
    assert invalid.status_code == 400


def test_generate_answers_503_while_loading(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        import time

        class Slow:
            def load_model(self):
                time.sleep(1.5)

            def generate(self, inputs):
                yield [{"text": {"raw": "late"}} for _ in inputs]
        """,
    )
    runner = start_runner(model_dir)
    runner.wait("loading")
    early = runner.post("/generate", json=body("x"))
    assert early.status_code == 503
    assert early.headers["retry-after"] == "1"
    runner.wait("ready")
    assert (
        runner.post("/generate", json=body("x")).text == '{"outputs":[{"text":{"raw":"late"}}]}\n'
    )


def test_generate_that_returns_a_list_is_refused(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        class Eager:
            def generate(self, inputs):
                return [{"text": {"raw": "x"}} for _ in inputs]
        """,
    )
    runner = start_runner(model_dir)
    runner.wait()
    reply = runner.post("/generate", json=body("x"))
    assert reply.status_code == 500
    assert "generate must be a generator (use yield)" in reply.json()["error"]


def test_helper_class_with_generate_beside_the_model(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        class Sampler:
            def generate(self, prompt):
                return prompt + "!"

        class Model:
            def predict(self, inputs):
                return [{"text": {"raw": Sampler().generate(d["text"]["raw"])}} for d in inputs]
        """,
    )
    runner = start_runner(model_dir)
    health = runner.wait()
    assert (health["model"], health["generate"]) == ("Model", False)
    assert runner.predict("hi").json()["outputs"] == [{"text": {"raw": "hi!"}}]


def test_two_generate_classes_are_refused(start_runner, tmp_path):
    model_dir = write_model(
        tmp_path,
        """
        class A:
            def generate(self, inputs):
                yield []

        class B:
            def generate(self, inputs):
                yield []
        """,
    )
    runner = start_runner(model_dir)
    assert "several model classes (A, B)" in runner.wait("failed")["error"]


@pytest.fixture
def markov(start_runner):
    runner = start_runner(EXAMPLES / "markov")
    runner.wait()
    return runner


def test_markov_example_streams_what_predict_returns(markov):
    prompts = ["Alice was beginning", "the White Rabbit", "", "zebra quantum"]
    whole = markov.post("/predict", json=body(*prompts)).json()["outputs"]
    texts = [o["text"]["raw"] for o in whole]
    assert all(10 <= len(t.split()) <= 60 for t in texts), texts
    # "Alice was beginning" continues as the book does ("beginning to get ...").
    assert texts[0].startswith("to get ")
    # Deterministic given the input.
    assert markov.post("/predict", json=body(*prompts)).json()["outputs"] == whole

    reply = markov.post("/generate", json=body(*prompts))
    chunks = [json.loads(line)["outputs"] for line in reply.text.splitlines()]
    assert len(chunks) > 3
    assert all(len(chunk) == len(prompts) for chunk in chunks)
    streamed = ["".join(chunk[i]["text"]["raw"] for chunk in chunks) for i in range(len(prompts))]
    assert streamed == texts
