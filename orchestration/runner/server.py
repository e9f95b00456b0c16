"""In-container model server: loads an uploaded model and serves it over HTTP.

This file and its siblings (runner_model.py: the model class and its contract;
runner_batching.py: dynamic batching) are copied verbatim into every model image, next
to Debian's CPython 3.11 and nothing else, so they use the standard library only and
import nothing from the project.

    python3 server.py --model-dir /model --port 8080     (or env MODEL_DIR, PORT)

Endpoints:

    GET  /healthz   200 {"status": "ready", "in_flight": n, ...} once the model is loaded,
                    503 {"status": "loading"} before, 500 {"status": "failed", "error": ...}
                    when loading raised.
    POST /predict   {"inputs": [data, ...]} -> {"outputs": [data, ...], "batch_size": n},
                    one output per input, in order, where data is a Clarifai-style data
                    object and batch_size the number of inputs in the model call this
                    request rode in (len(inputs) unless batching gathered others).
    POST /generate  {"inputs": [data, ...]} -> a chunked application/x-ndjson stream, one
                    line {"outputs": [data, ...]} per chunk the model's generate() yields
                    (one data object per input), ending with {"error": ...} if the model
                    raises mid-stream. 501 when the model has no generate method.

Settings (environment): MAX_REQUEST_BYTES (default 20 MiB), MODEL_CONCURRENCY (how many
model calls run at once, default 4), IDLE_TIMEOUT (seconds an idle keep-alive
connection is kept, default 120), SHUTDOWN_GRACE (seconds in-flight requests get to
finish after SIGTERM, default 10), BATCH_MAX_SIZE and BATCH_MAX_WAIT_MS (dynamic
batching, off unless BATCH_MAX_SIZE > 1; see Batcher).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Siblings in the image's /opt/runner (the script's folder is first on sys.path).
from runner_batching import Batcher, BatchFailed
from runner_model import (
    ModelHost,
    OutputError,
    check_outputs,
    describe,
    env_float,
    env_int,
    log,
)

DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024
DEFAULT_CONCURRENCY = 4


class RequestError(Exception):
    """A client mistake, answered with a JSON error and the given status."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 with an exact Content-Length on every response lets pooled clients
    # (the portal's router) reuse one connection for many predictions.
    protocol_version = "HTTP/1.1"
    server_version = "orchestration-runner/1"
    sys_version = ""
    # Small JSON replies would otherwise wait on delayed ACKs.
    disable_nagle_algorithm = True
    # Set per server in main(); class attributes because the stdlib builds one handler
    # per connection.
    host: ModelHost
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: per-request lines cost throughput; errors are logged where raised."""

    # Responses --------------------------------------------------------------------------

    def send_json(
        self,
        status: int,
        payload: Any,
        *,
        close: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_body(status, encode(payload), close=close, headers=headers)

    def send_body(
        self,
        status: int,
        body: bytes,
        *,
        close: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        if close:
            self.close_connection = True
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
        ]
        lines.extend(f"{key}: {value}" for key, value in (headers or {}).items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write per response: status, headers and body leave in the same segment.
        self.wfile.write(head + body)

    def send_error_json(self, status: int, message: str, *, close: bool = False) -> None:
        self.send_json(status, {"error": message}, close=close)

    # Request plumbing -------------------------------------------------------------------

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def declared_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            length = int(raw)
        except ValueError:
            raise RequestError(400, "invalid Content-Length header", close=True) from None
        if length < 0:
            raise RequestError(400, "invalid Content-Length header", close=True)
        return length

    def too_large(self) -> RequestError:
        # The unread body would be parsed as the next request, so the connection closes.
        return RequestError(
            413,
            f"request body exceeds the {self.max_request_bytes} byte limit",
            close=True,
        )

    def handle_expect_100(self) -> bool:
        # Refuse an oversize upload before the client sends it.
        try:
            length = self.declared_length()
        except RequestError as exc:
            self.send_error_json(exc.status, exc.message, close=True)
            return False
        if length is not None and length > self.max_request_bytes:
            exc = self.too_large()
            self.send_error_json(exc.status, exc.message, close=True)
            return False
        return super().handle_expect_100()

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = self.declared_length()
        if length is None:
            raise RequestError(411, "Content-Length header required", close=True)
        if length > self.max_request_bytes:
            raise self.too_large()
        body = self.rfile.read(length)
        if len(body) != length:
            raise RequestError(400, "request body shorter than Content-Length", close=True)
        return body

    def read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise RequestError(400, "malformed chunked body", close=True) from None
            if size == 0:
                # Trailers, if any, end with an empty line.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > self.max_request_bytes:
                raise self.too_large()
            parts.append(self.rfile.read(size))
            self.rfile.readline(16)

    # Methods ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        route = self.route
        if route == "/healthz":
            status, body = self.host.health()
            self.send_json(status, body)
        elif route in ("/predict", "/generate"):
            self.send_json(405, {"error": f"use POST {route}"}, headers={"Allow": "POST"})
        else:
            self.send_error_json(404, f"no route for GET {route}")

    def do_HEAD(self) -> None:
        self.send_error_json(405, "HEAD is not supported", close=True)

    def do_POST(self) -> None:
        route = self.route
        try:
            if route == "/predict":
                self.handle_predict()
            elif route == "/generate":
                self.handle_generate()
            else:
                # Drain what we can so keep-alive survives a wrong path.
                self.read_body()
                raise RequestError(404, f"no route for POST {route}")
        except RequestError as exc:
            self.send_error_json(exc.status, exc.message, close=exc.close)

    def model_unavailable(self) -> bool:
        """Answers 503 (and says so) unless the model is loaded."""
        host = self.host
        if host.status == "ready":
            return False
        message = (
            f"model failed to load: {host.error}"
            if host.status == "failed"
            else "model is still loading"
        )
        self.send_json(503, {"error": message}, headers={"Retry-After": "1"})
        return True

    def handle_predict(self) -> None:
        body = self.read_body()
        host = self.host
        if self.model_unavailable():
            return
        if not host.has_predict:
            self.send_error_json(
                501, "this model has no predict(self, inputs) method; it streams: POST /generate"
            )
            return
        inputs = parse_inputs(body)
        if not inputs:
            self.send_json(200, {"outputs": [], "batch_size": 0})
            return
        host.enter()
        try:
            outputs, batch_size = host.predict(inputs)
            status, body = 200, encode({"outputs": outputs, "batch_size": batch_size})
        except BatchFailed as exc:  # logged once for the batch by the dispatcher
            status, body = 500, encode({"error": exc.message})
        except OutputError as exc:
            log(f"predict contract violation: {exc}")
            status, body = 500, encode({"error": f"OutputError: {exc}"})
        except Exception as exc:  # a model bug must not take the server down
            log(f"predict failed: {describe(exc)}")
            traceback.print_exc(file=sys.stderr)
            status, body = 500, encode({"error": describe(exc)})
        finally:
            host.leave()
        self.send_body(status, body)

    # Streaming --------------------------------------------------------------------------

    def handle_generate(self) -> None:
        body = self.read_body()
        host = self.host
        if self.model_unavailable():
            return
        if not host.has_generate:
            self.send_error_json(501, "this model has no generate(self, inputs) method")
            return
        inputs = parse_inputs(body)
        host.enter()
        try:
            # A stream holds its model slot, and counts in flight, until its last chunk.
            with host.slots:
                host.count_stream()
                self.stream(inputs)
        finally:
            host.leave()

    def stream(self, inputs: list[dict[str, Any]]) -> None:
        chunks: Iterator[Any] = iter(())
        first: Any = _END
        if inputs:
            # The first chunk is fetched before the status line, so that a model failing
            # at once gets a plain 500 like predict rather than a 200 with an error line.
            try:
                chunks = start_generate(self.host.model, inputs)
                first = next(chunks, _END)
                line = b"" if first is _END else chunk_line(first, len(inputs))
            except Exception as exc:
                close_generator(chunks)
                log(f"generate failed before its first chunk: {describe(exc)}")
                if not isinstance(exc, OutputError):
                    traceback.print_exc(file=sys.stderr)
                message = f"OutputError: {exc}" if isinstance(exc, OutputError) else describe(exc)
                self.send_error_json(500, message)
                return
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/x-ndjson\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Cache-Control: no-store\r\n"
            f"Connection: {'close' if self.close_connection else 'keep-alive'}\r\n\r\n"
        ).encode("latin-1")
        if first is _END:
            self.wfile.write(head + b"0\r\n\r\n")
            return
        if not self.send_chunk(line, head, chunks):
            return
        while True:
            try:
                chunk = next(chunks, _END)
                if chunk is _END:
                    break
                line = chunk_line(chunk, len(inputs))
            except Exception as exc:  # the status is sent: the error becomes the last line
                close_generator(chunks)
                log(f"generate failed mid-stream: {describe(exc)}")
                if not isinstance(exc, OutputError):
                    traceback.print_exc(file=sys.stderr)
                message = f"OutputError: {exc}" if isinstance(exc, OutputError) else describe(exc)
                if not self.send_chunk(encode({"error": message}) + b"\n", b"", chunks):
                    return
                break
            if not self.send_chunk(line, b"", chunks):
                return
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def send_chunk(self, line: bytes, head: bytes, chunks: Iterator[Any]) -> bool:
        """Write one chunk at once; False, with the generator closed, if the client left."""
        if not head and self.client_gone():
            written = False
        else:
            try:
                self.wfile.write(head + f"{len(line):x}\r\n".encode() + line + b"\r\n")
                written = True
            except OSError:  # BrokenPipe, ConnectionReset, a send timeout
                written = False
        if not written:
            # The model's finally blocks run now rather than after producing the rest.
            close_generator(chunks)
            self.host.count_stream(disconnected=True)
            self.close_connection = True
        return written

    def client_gone(self) -> bool:
        """Whether the client closed its side: a write after that can still succeed
        once (the kernel buffers it), so a stream would otherwise run a chunk longer."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


_END = object()


def start_generate(model: Any, inputs: list[dict[str, Any]]) -> Iterator[Any]:
    result = model.generate(inputs)
    if isinstance(result, dict | list | str | bytes) or result is None:
        raise OutputError(
            "generate must be a generator (use yield) or return an iterator of chunks, "
            f"got {type(result).__name__}"
        )
    try:
        return iter(result)
    except TypeError:
        raise OutputError(
            f"generate must return an iterator of chunks, got {type(result).__name__}"
        ) from None


def chunk_line(chunk: Any, expected: int) -> bytes:
    """One NDJSON line for a chunk generate yielded, checked like predict's outputs."""
    return encode({"outputs": check_outputs(chunk, expected, "generate")}, "generate") + b"\n"


def close_generator(chunks: Any) -> None:
    close = getattr(chunks, "close", None)
    if callable(close):
        try:
            close()
        except Exception as exc:  # a finally block that raises must not end the server
            log(f"closing generate raised: {describe(exc)}")


def encode(payload: Any, method: str = "predict") -> bytes:
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        # Typically a numpy value left in an output; name the culprit side.
        raise OutputError(f"{method} output is not JSON serializable: {exc}") from exc


def parse_inputs(body: bytes) -> list[dict[str, Any]]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestError(400, 'request body must be a JSON object {"inputs": [...]}')
    inputs = payload.get("inputs")
    if not isinstance(inputs, list):
        raise RequestError(400, '"inputs" must be a list of data objects')
    for index, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise RequestError(
                400, f'inputs[{index}] must be a data object such as {{"text": {{"raw": "hi"}}}}'
            )
    return inputs


class Server(ThreadingHTTPServer):
    # Handler threads must not keep the process alive after shutdown is decided.
    daemon_threads = True
    allow_reuse_address = True
    # Bursts from the router arrive faster than threads start.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # Clients hanging up mid-response are routine, not worth a traceback.
        if isinstance(exc, ConnectionError | TimeoutError | socket.timeout):
            return
        log(f"error serving {client_address}: {describe(exc) if exc else 'unknown'}")
        traceback.print_exc(file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve an uploaded model over HTTP.")
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR", "/model"))
    parser.add_argument("--port", type=int, default=env_int("PORT", 8080))
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    host = ModelHost(args.model_dir, env_int("MODEL_CONCURRENCY", DEFAULT_CONCURRENCY, 1))
    batch_max_size = env_int("BATCH_MAX_SIZE", 1, 1)
    if batch_max_size > 1:
        host.batcher = Batcher(host, batch_max_size, env_float("BATCH_MAX_WAIT_MS", 0.0))
    Handler.host = host
    Handler.max_request_bytes = env_int("MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, 1)
    # Idle keep-alive connections each hold a thread; reclaim them eventually.
    Handler.timeout = env_int("IDLE_TIMEOUT", 120, 1)
    grace = env_int("SHUTDOWN_GRACE", 10)

    server = Server((args.host, args.port), Handler)
    log(
        f"serving {host.model_dir} on {args.host}:{server.server_address[1]} "
        f"(concurrency {host.concurrency}, max body {Handler.max_request_bytes} bytes, "
        f"batching {host.batcher.settings() if host.batcher else 'off'})"
    )
    host.start_loading()

    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        # As PID 1 in a container, SIGTERM is ignored unless handled, which would make
        # every `docker stop` wait out its timeout and then SIGKILL.
        if stopping.is_set():
            return
        stopping.set()
        log(f"signal {signum}: shutting down")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        deadline = time.monotonic() + grace
        while host.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
