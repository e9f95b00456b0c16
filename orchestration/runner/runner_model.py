"""The runner's model side: loading the uploaded model class, the one-output-per-input
contract, and the state concurrent requests share (ModelHost).

Copied with server.py into every model image (standard library only, nothing from the
project); server.py imports it as a sibling module.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import threading
import time
import traceback
from typing import Any


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


class ModelHost:
    """Owns the user's model object and everything concurrent requests share about it."""

    def __init__(self, model_dir: str, concurrency: int) -> None:
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
        # Set by main() when BATCH_MAX_SIZE > 1 (runner_batching.Batcher).
        self.batcher: Any = None

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
