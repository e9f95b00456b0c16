"""A model's output as a stream (GenerateModelOutputs), shared by every transport.

`open_generation` runs the same checks as a prediction and waits for the model's first
chunk, so that what fails before any output (a bad key, an unknown model, a model that
does not stream, no replica) is an ordinary error answer with its HTTP status. From
then on the answer is a sequence of Clarifai `MultiOutputResponse` objects, one per
chunk the model yields, each output keeping its id across chunks; a failure midway is a
last response whose status says what went wrong. HTTP sends them as newline-delimited
JSON, gRPC as its server stream, the portal as text growing in the page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from orchestration import jsonsafe
from orchestration.metrics.instruments import NO_DEPLOYMENT
from orchestration.predict import observe, resolve
from orchestration.predict.ids import new_id
from orchestration.predict.resolve import PredictError
from orchestration.predict.router import router
from orchestration.predict.views import (
    OK,
    ROUTER_ERRORS,
    accept,
    error_body,
    model_inputs,
    router_error,
    shape_outputs,
)

log = logging.getLogger(__name__)
# Counted for a stream its caller left before the end (nginx's code for it).
CLIENT_CLOSED = 499


async def open_generation(
    authorization: str, raw: bytes, *, transport: str = "http", **where
) -> tuple[int, dict | None, AsyncIterator[dict] | None]:
    """(200, None, responses) once the model's first chunk is in, or (status, error body,
    None). The caller must exhaust or `aclose()` the responses: closing them early stops
    the model's generator."""
    started = time.perf_counter()
    try:
        target, inputs = await accept(authorization, raw, **where)
    except Exception as exc:  # noqa: BLE001 - nothing a client sends may end in a 500 page
        if isinstance(exc, PredictError):
            error = exc
        else:
            log.exception("generate failed")
            error = PredictError(500, resolve.FAILURE, "Internal error")
        observe.answered(
            NO_DEPLOYMENT, error.http_status, f"{transport}_stream", time.perf_counter() - started
        )
        return error.http_status, error_body(error), None
    return await start_generation(target, inputs, transport=transport, started=started)


async def start_generation(
    target: resolve.Target, inputs: list[dict], *, transport: str, started: float | None = None
) -> tuple[int, dict | None, AsyncIterator[dict] | None]:
    """`open_generation` for a request already accepted (the portal's, by its session)."""
    started = time.perf_counter() if started is None else started
    transport = f"{transport}_stream"
    chunks = router.generate(target.deployment_id, model_inputs(inputs), target.labels)
    try:
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
    except ROUTER_ERRORS as exc:
        await chunks.aclose()
        error = router_error(exc)
    except Exception:
        await chunks.aclose()
        log.exception("generate failed")
        error = PredictError(500, resolve.FAILURE, "Internal error")
    else:
        return 200, None, _responses(target, inputs, first, chunks, transport, started)
    observe.answered(target.labels, error.http_status, transport, time.perf_counter() - started)
    return error.http_status, error_body(error), None


async def _responses(
    target: resolve.Target,
    inputs: list[dict],
    first: list[dict] | None,
    chunks: AsyncIterator[list[dict]],
    transport: str,
    started: float,
) -> AsyncIterator[dict]:
    ids = [new_id() for _ in inputs]
    status = 200
    try:
        if first is not None:
            yield {"status": OK, "outputs": shape_outputs(target, inputs, first, ids)}
            async for chunk in chunks:
                yield {"status": OK, "outputs": shape_outputs(target, inputs, chunk, ids)}
    except ROUTER_ERRORS as exc:
        error = router_error(exc)
        status = error.http_status
        yield {**error_body(error), "outputs": []}
    except (GeneratorExit, asyncio.CancelledError):
        status = CLIENT_CLOSED
        raise
    finally:
        await chunks.aclose()
        observe.answered(target.labels, status, transport, time.perf_counter() - started)


async def ndjson_lines(responses: AsyncIterator[dict]) -> AsyncIterator[bytes]:
    """One JSON document per line, as each response is ready."""
    try:
        async for response in responses:
            yield jsonsafe.dumpb(response) + b"\n"
    finally:
        await responses.aclose()
