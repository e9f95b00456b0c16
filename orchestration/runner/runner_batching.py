"""Dynamic batching: the inputs of concurrent predict requests gathered into one call.

Copied with server.py into every model image (standard library only, nothing from the
project).
"""

from __future__ import annotations

import collections
import sys
import threading
import time
import traceback
from typing import Any

from runner_model import ModelHost, OutputError, describe, log


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
