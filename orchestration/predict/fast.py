"""The predict endpoints as a lean ASGI app, in front of Django's request cycle.

Django's ASGI handler starts a thread per request for its sync signal receivers, which
costs more than the proxying itself. Prediction needs none of that cycle (no session,
no CSRF, no templates), so `orchestration.asgi` sends `/v2/` here; the Django views in
`predict.views` serve the same paths for WSGI and the test client, through the same
`handle` function.
"""

from __future__ import annotations

import asyncio
import contextlib

from django.conf import settings

from orchestration import jsonsafe
from orchestration.metrics.instruments import NO_DEPLOYMENT
from orchestration.predict import observe, resolve, routes
from orchestration.predict.resolve import PredictError
from orchestration.predict.streaming import ndjson_lines, open_generation
from orchestration.predict.views import error_body, handle


async def predict_app(scope, receive, send) -> None:
    route = routes.match(scope["path"])
    if route is None:
        await _refuse(send, 404, PredictError(404, resolve.INVALID_REQUEST, "Not found"))
        return
    if scope["method"] != "POST":
        await _refuse(send, 405, PredictError(405, resolve.INVALID_REQUEST, "Use POST"))
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    limit = settings.PREDICT_MAX_BYTES
    try:
        declared = int(headers.get("content-length") or 0)
    except ValueError:
        declared = 0
    chunks: list[bytes] = []
    size = 0
    more = True
    too_large = declared > limit
    while more and not too_large:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        too_large = size > limit
        chunks.append(chunk)
        more = message.get("more_body", False)
    if too_large:
        exc = PredictError(
            413,
            resolve.INVALID_REQUEST,
            "Request too large",
            f"the limit is {limit} bytes",
        )
        await _refuse(send, 413, exc)
        return
    kind, where = route
    authorization, raw = headers.get("authorization", ""), b"".join(chunks)
    if kind == "generate":
        await _stream(send, receive, await open_generation(authorization, raw, **where))
        return
    status, body, extra = await handle(authorization, raw, **where)
    await _send(send, status, body, extra)


async def _stream(send, receive, opened) -> None:
    """Send each response as a line as soon as it is ready; stop the model when the
    client goes away (uvicorn then only says so through `receive`)."""
    status, error, responses = opened
    if responses is None:
        await _send(send, status, error)
        return

    async def pump() -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-ndjson")],
            }
        )
        async for line in ndjson_lines(responses):
            await send({"type": "http.response.body", "body": line, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sending = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(gone())
    try:
        await asyncio.wait((sending, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        await responses.aclose()


async def _refuse(send, status: int, exc: PredictError) -> None:
    """An answer given before `handle` saw the request (it counts the others)."""
    observe.answered(NO_DEPLOYMENT, status, "http", 0.0)
    await _send(send, status, error_body(exc))


async def _send(send, status: int, body: dict, extra: dict | None = None) -> None:
    payload = jsonsafe.dumpb(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    headers += [(k.lower().encode(), str(v).encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
