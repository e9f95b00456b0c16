"""In-container model server: loads an uploaded model and serves it over HTTP.

This file is copied verbatim into every model image, next to Debian's CPython 3.11 and
nothing else, so it must use the standard library only and import nothing from the
project.

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
import collections
import importlib.util
import inspect
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

DEFAULT_MAX_REQUEST_BYTES = 20 * 1024 * 1024
DEFAULT_CONCURRENCY = 4


def log(message: str) -> None:
    """Startup and error lines only: one line per request would cost throughput."""
    sys.stderr.write(f"[runner] {message}\n")
    sys.stderr.flush()


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        log(f"ignoring {name}={raw!r}: not an integer, using {default}")
        return default
    return max(minimum, value)


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        log(f"ignoring {name}={raw!r}: not a number, using {default}")
        return default
    if value != value or value in (float("inf"), float("-inf")):
        log(f"ignoring {name}={raw!r}: not a finite number, using {default}")
        return default
    return max(minimum, value)


def describe(exc: BaseException) -> str:
    """`ValueError: message`, the form callers see in error bodies."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ModelHost:
    """Owns the user's model object and everything concurrent requests share about it."""

    def __init__(
        self,
        model_dir: str,
        concurrency: int,
        batch_max_size: int = 1,
        batch_max_wait_ms: float = 0.0,
    ) -> None:
        self.model_dir = os.path.abspath(model_dir)
        self.status = "loading"
        self.error: str | None = None
        self.model: Any = None
        self.class_name: str | None = None
        self.has_predict = False
        self.has_generate = False
        self.loaded_at: float | None = None
        self.started_at = time.time()
        self.concurrency = concurrency
        # Bounds how many predict calls run inside the model at once: models are often
        # not thread-safe past a point, and unbounded threads would thrash a small CPU
        # quota. Requests past the bound wait here rather than being refused.
        self.slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.served = 0
        # Model predict calls and the inputs they carried, batched or not: their ratio is
        # the average batch size.
        self.batches = 0
        self.batched_inputs = 0
        self.streams = 0
        self.streams_disconnected = 0
        self.batcher = (
            Batcher(self, batch_max_size, batch_max_wait_ms) if batch_max_size > 1 else None
        )

    # Loading ----------------------------------------------------------------------------

    def start_loading(self) -> threading.Thread:
        # Import and load_model() may take minutes (weights, training); doing them in the
        # background lets /healthz answer "loading" meanwhile instead of refusing TCP,
        # which lets the orchestrator tell a slow start from a dead container.
        thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def _load(self) -> None:
        began = time.monotonic()
        try:
            self.model, self.class_name = load_model_object(self.model_dir)
            self.has_predict = callable(getattr(self.model, "predict", None))
            self.has_generate = callable(getattr(self.model, "generate", None))
            self.loaded_at = time.time()
            self.status = "ready"
            log(f"model {self.class_name} ready in {time.monotonic() - began:.2f}s")
        except BaseException as exc:  # any failure must surface in /healthz
            self.error = describe(exc)
            self.status = "failed"
            log(f"model failed to load: {self.error}")
            traceback.print_exc(file=sys.stderr)

    # Accounting -------------------------------------------------------------------------

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.served += 1

    def count_call(self, inputs: int) -> None:
        with self._lock:
            self.batches += 1
            self.batched_inputs += inputs

    def count_stream(self, *, disconnected: bool = False) -> None:
        with self._lock:
            if disconnected:
                self.streams_disconnected += 1
            else:
                self.streams += 1

    def health(self) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"status": self.status, "in_flight": self.in_flight}
        if self.status == "ready":
            body.update(
                model=self.class_name,
                concurrency=self.concurrency,
                served=self.served,
                predict=self.has_predict,
                generate=self.has_generate,
                batching=self.batcher.settings() if self.batcher else None,
                batches=self.batches,
                batched_inputs=self.batched_inputs,
                streams=self.streams,
                streams_disconnected=self.streams_disconnected,
                uptime_seconds=round(time.time() - self.started_at, 3),
            )
            return 200, body
        if self.status == "failed":
            body["error"] = self.error
            return 500, body
        return 503, body

    # Prediction -------------------------------------------------------------------------

    def predict(self, inputs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """The outputs for `inputs` and the number of inputs in the model call they rode in.

        Raises what the model raised (or OutputError) unbatched, BatchFailed batched.
        """
        if self.batcher is not None:
            return self.batcher.submit(inputs)
        return self.call_predict(inputs), len(inputs)

    def call_predict(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.slots:
            result = self.model.predict(inputs)
        self.count_call(len(inputs))
        return check_outputs(result, len(inputs))


class BatchFailed(Exception):
    """The model call of a batch raised; every request of the batch answers `message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Pending:
    """One request's inputs waiting in the batcher, and where its answer is left."""

    __slots__ = ("inputs", "arrived", "done", "outputs", "batch_size", "error")

    def __init__(self, inputs: list[dict[str, Any]]) -> None:
        self.inputs = inputs
        self.arrived = time.monotonic()
        self.done = threading.Event()
        self.outputs: list[dict[str, Any]] = []
        self.batch_size = 0
        self.error: str | None = None


class Batcher:
    """Gathers the inputs of concurrent predict requests into one model.predict call.

    Request threads queue their inputs and block on their own event; one dispatcher
    thread takes the oldest request, then waits until `max_wait_ms` after that request
    arrived for others, as long as the batch stays within `max_batch_size` inputs. A
    request with more inputs than that is a call of its own, never split (its outputs
    then come from one call, as unbatched). One batch is in the model at a time; the next
    one accumulates meanwhile, so under load batches fill without waiting at all.

    Once a wait has found no company (the last call held one request and nothing was
    queued behind it), traffic is sparse, and the next lone request goes at once instead
    of waiting out max_wait_ms for company that will not come; the first call that finds
    others queued ends that, and waits resume. So lone clients pay no batching delay,
    and concurrent ones are gathered as before.
    """

    def __init__(self, host: ModelHost, max_size: int, max_wait_ms: float) -> None:
        self.host = host
        self.max_size = max_size
        self.max_wait_ms = max_wait_ms
        self._max_wait = max_wait_ms / 1000.0
        self._pending: collections.deque[_Pending] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._sparse = False  # dispatcher thread only
        threading.Thread(target=self._run, name="batcher", daemon=True).start()

    def settings(self) -> dict[str, Any]:
        return {"max_batch_size": self.max_size, "max_wait_ms": self.max_wait_ms}

    def submit(self, inputs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        item = _Pending(inputs)
        with self._ready:
            self._pending.append(item)
            self._ready.notify()
        item.done.wait()
        if item.error is not None:
            raise BatchFailed(item.error)
        return item.outputs, item.batch_size

    def _next_batch(self) -> tuple[list[_Pending], int]:
        with self._ready:
            while not self._pending:
                self._ready.wait()
            first = self._pending.popleft()
            batch, size = [first], len(first.inputs)
            deadline = first.arrived + self._max_wait
            if self._sparse and not self._pending:
                deadline = 0.0
            while size < self.max_size:
                if not self._pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._ready.wait(remaining)
                    continue
                if size + len(self._pending[0].inputs) > self.max_size:
                    break  # it opens the next batch rather than overfill this one
                item = self._pending.popleft()
                batch.append(item)
                size += len(item.inputs)
            self._sparse = len(batch) == 1 and not self._pending
        return batch, size

    def _run(self) -> None:
        while True:
            batch, size = self._next_batch()
            inputs = [data for item in batch for data in item.inputs]
            try:
                outputs = self.host.call_predict(inputs)
            except OutputError as exc:
                log(f"predict contract violation in a batch of {size} inputs: {exc}")
                self._fail(batch, f"OutputError: {exc}")
                continue
            except BaseException as exc:  # the dispatcher must outlive any model bug
                log(f"predict failed for a batch of {size} inputs: {describe(exc)}")
                traceback.print_exc(file=sys.stderr)
                self._fail(batch, describe(exc))
                continue
            start = 0
            for item in batch:
                item.outputs = outputs[start : start + len(item.inputs)]
                item.batch_size = size
                start += len(item.inputs)
                item.done.set()

    @staticmethod
    def _fail(batch: list[_Pending], message: str) -> None:
        for item in batch:
            item.error = message
            item.done.set()


class OutputError(Exception):
    """predict() or generate() broke the one-output-per-input contract."""


def check_outputs(result: Any, expected: int, method: str = "predict") -> list[dict[str, Any]]:
    verb = "return" if method == "predict" else "yield"
    shape = f"{method} must {verb} a list of {expected} data dicts"
    if isinstance(result, dict) or result is None or isinstance(result, str | bytes):
        raise OutputError(f"{shape}, got {type(result).__name__}")
    try:
        outputs = list(result)
    except TypeError:
        raise OutputError(f"{shape}, got {type(result).__name__}") from None
    if len(outputs) != expected:
        raise OutputError(
            f"{method} {verb}ed {len(outputs)} outputs for {expected} inputs; "
            f"it must {verb} exactly one output per input, in order"
        )
    for index, item in enumerate(outputs):
        if not isinstance(item, dict):
            raise OutputError(
                f"{method} output {index} is a {type(item).__name__}; each output must be a "
                'data dict such as {"text": {"raw": "..."}}'
            )
    return outputs


def load_model_object(model_dir: str) -> tuple[Any, str]:
    """Import <model_dir>/1/model.py, instantiate its model class and run load_model()."""
    code_dir = os.path.join(model_dir, "1")
    model_file = os.path.join(code_dir, "model.py")
    if not os.path.isfile(model_file):
        raise FileNotFoundError(f"{model_file} not found")
    # Wheels installed at build time live in site-packages; the model's own folder goes
    # first so a helper module it ships wins over a same-named package.
    site_packages = os.path.join(model_dir, "site-packages")
    for path in (site_packages, code_dir):
        if os.path.isdir(path) and path not in sys.path:
            sys.path.insert(0, path)
    # Models commonly open their files by relative path (open("vocab.txt")).
    os.chdir(code_dir)

    spec = importlib.util.spec_from_file_location("model", model_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {model_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["model"] = module
    spec.loader.exec_module(module)

    cls = find_model_class(module)
    instance = cls()
    loader = getattr(instance, "load_model", None)
    if callable(loader):
        loader()
    return instance, cls.__name__


def find_model_class(module: Any) -> type:
    """The one class in model.py with a predict method, or else with a generate method.

    Classes merely imported into model.py are ignored, and when model.py defines a base
    class and a subclass of it, the most derived one is meant. Classes with generate
    count only when none has predict, so that a helper class with a generate method
    beside a predict model (a text sampler, say) does not make two model classes.
    """
    own = [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__
    ]
    candidates = [c for c in own if callable(getattr(c, "predict", None))] or [
        c for c in own if callable(getattr(c, "generate", None))
    ]
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if not leaves:
        raise TypeError(
            "model.py defines no class with a predict(self, inputs) "
            "or generate(self, inputs) method"
        )
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise TypeError(f"model.py defines several model classes ({names}); keep exactly one")
    return leaves[0]


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
    host = ModelHost(
        args.model_dir,
        env_int("MODEL_CONCURRENCY", DEFAULT_CONCURRENCY, 1),
        batch_max_size=env_int("BATCH_MAX_SIZE", 1, 1),
        batch_max_wait_ms=env_float("BATCH_MAX_WAIT_MS", 0.0),
    )
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
