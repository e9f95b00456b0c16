"""The predict endpoints as a lean ASGI app, in front of Django's request cycle.

Django's ASGI handler starts a thread per request for its sync signal receivers, which
costs more than the proxying itself. Prediction needs none of that cycle (no session,
no CSRF, no templates), so `orchestration.asgi` sends `/v2/` here; the Django views in
`predict.views` serve the same paths for WSGI and the test client, through the same
`handle` function.
"""

from __future__ import annotations

from django.conf import settings

from orchestration import jsonsafe
from orchestration.metrics.instruments import NO_DEPLOYMENT
from orchestration.predict import observe, resolve, routes
from orchestration.predict.resolve import PredictError
from orchestration.predict.views import error_body, handle


async def predict_app(scope, receive, send) -> None:
    where = routes.match(scope["path"])
    if where is None:
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
    status, body, extra = await handle(headers.get("authorization", ""), b"".join(chunks), **where)
    await _send(send, status, body, extra)


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
