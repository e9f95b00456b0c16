"""The Clarifai-compatible predict endpoints (SPEC.md), served on the async path."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from orchestration import jsonsafe, ratelimit
from orchestration.metrics.instruments import NO_DEPLOYMENT
from orchestration.predict import images, observe, resolve, routes
from orchestration.predict.ids import new_id
from orchestration.predict.resolve import PredictError
from orchestration.predict.router import (
    ModelBadOutput,
    ModelCannotStream,
    ModelError,
    ModelTimeout,
    NoReplica,
    router,
    start_change_listener,
)

log = logging.getLogger(__name__)
MAX_INPUTS = 128
# Never write NaN or Infinity: strict JSON parsers refuse them.
STRICT = {"allow_nan": False}


@login_not_required
@csrf_exempt
async def outputs(request: HttpRequest, **groups: str | None) -> JsonResponse:
    """Every predict path (`routes.PATTERNS`): a model, a version or a deployment."""
    return await _handle(request, **routes.where(groups))


async def _handle(request: HttpRequest, **where) -> JsonResponse:
    if request.method != "POST":
        return error_response(PredictError(405, resolve.INVALID_REQUEST, "Use POST"))
    length = int(request.headers.get("Content-Length") or 0)
    if length > settings.PREDICT_MAX_BYTES:
        return error_response(_too_large(length))
    try:
        raw = request.body
    except Exception as exc:  # RequestDataTooBig and friends
        return error_response(
            PredictError(413, resolve.INVALID_REQUEST, "Request too large", str(exc))
        )
    status, body, headers = await handle(request.headers.get("Authorization", ""), raw, **where)
    return JsonResponse(body, status=status, headers=headers, json_dumps_params=STRICT)


async def handle(
    authorization: str, raw: bytes, *, transport: str = "http", **where
) -> tuple[int, dict, dict]:
    """The whole predict request, shared by the Django views, the lean ASGI path and
    the gRPC servicer (`transport` says which, for the metrics)."""
    started = time.perf_counter()
    labels = NO_DEPLOYMENT
    status = 500
    try:
        target, inputs = await accept(authorization, raw, **where)
        labels = target.labels
        body, headers = await run_prediction(target, inputs)
        status = 200
        return 200, body, headers
    except PredictError as exc:
        status = exc.http_status
        return exc.http_status, error_body(exc), exc.headers
    except Exception:
        log.exception("predict failed")
        return 500, error_body(PredictError(500, resolve.FAILURE, "Internal error")), {}
    finally:
        observe.answered(labels, status, transport, time.perf_counter() - started)


async def accept(authorization: str, raw: bytes, **where) -> tuple[resolve.Target, list[dict]]:
    """The checks every predict request passes, in order: size, key, rate, body, and
    which deployment it goes to. Raises PredictError."""
    start_change_listener()
    if len(raw) > settings.PREDICT_MAX_BYTES:
        raise _too_large(len(raw))
    caller = await resolve.caller_from_key(authorization)
    await check_rate(caller)
    inputs, selector = parse_body(raw)
    target = await resolve.target_for(
        caller,
        user_id=where.get("user_id"),
        model_slug=where.get("model_slug"),
        version_id=where.get("version_id"),
        deployment_slug=where.get("deployment_slug"),
        selector=selector,
    )
    if any("fetch" in item for item in inputs):
        await images.fetch_urls(inputs)
    return target, inputs


def model_inputs(inputs: list[dict]) -> list[dict]:
    """The data objects the model gets: an image URL's input carries the fetched bytes."""
    return [item.get("send", item["data"]) for item in inputs]


async def check_rate(caller: resolve.Caller) -> None:
    limiter = ratelimit.limiter("predict")
    wait = await limiter.acheck(caller.key)
    if wait is not None:
        observe.rate_limited("predict")
        raise PredictError(
            429,
            resolve.CONN_THROTTLED,
            "Too many requests",
            f"this key may send {limiter.rate:g} requests per second (bursts of "
            f"{limiter.burst:g}); retry in {wait:.2f} s",
            headers={"Retry-After": ratelimit.retry_after(wait)},
        )


def _too_large(length: int) -> PredictError:
    return PredictError(
        413,
        resolve.INVALID_REQUEST,
        "Request too large",
        f"the body is {length} bytes; the limit is {settings.PREDICT_MAX_BYTES}",
    )


OK = {"code": resolve.SUCCESS, "description": "Ok"}


def shape_outputs(
    target: resolve.Target, inputs: list[dict], outputs: list, ids: list[str] | None = None
) -> list[dict]:
    """Clarifai's output objects: one per input, the model's data in each."""
    created = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    ids = ids or [new_id() for _ in inputs]
    return [
        {
            "id": output_id,
            "status": OK,
            "created_at": created,
            "model": {"id": target.model_slug, "model_version": {"id": target.version_id}},
            "input": {"id": item["id"], "data": item["data"]},
            "data": data if isinstance(data, dict) else {},
        }
        for output_id, item, data in zip(ids, inputs, outputs, strict=True)
    ]


def error_body(exc: PredictError) -> dict:
    return {"status": {"code": exc.code, "description": exc.description, "details": exc.details}}


def error_response(exc: PredictError) -> JsonResponse:
    return JsonResponse(error_body(exc), status=exc.http_status, json_dumps_params=STRICT)


def parse_body(raw: bytes) -> tuple[list[dict], dict | None]:
    try:
        body = jsonsafe.loads(raw or b"null")
    except jsonsafe.JSONError as exc:
        raise PredictError(400, resolve.INVALID_REQUEST, "Invalid JSON body", str(exc)) from None
    if not isinstance(body, dict):
        raise PredictError(400, resolve.INVALID_REQUEST, "The body must be a JSON object")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise PredictError(400, resolve.INVALID_REQUEST, "'inputs' must be a non-empty list")
    if len(inputs) > MAX_INPUTS:
        raise PredictError(400, resolve.INVALID_REQUEST, f"At most {MAX_INPUTS} inputs per request")
    cleaned = []
    for index, item in enumerate(inputs):
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise PredictError(
                400,
                resolve.INVALID_REQUEST,
                f"inputs[{index}] must be an object with a 'data' object",
            )
        input_id = item.get("id")
        if input_id is not None and not isinstance(input_id, str):
            raise PredictError(400, resolve.INVALID_REQUEST, f"inputs[{index}].id must be a string")
        entry = {"id": input_id or new_id(), "data": item["data"]}
        if "image" in item["data"]:
            url = images.check_image(item["data"]["image"], f"inputs[{index}].data.image")
            if url is not None:
                entry["fetch"] = url
        cleaned.append(entry)
    return cleaned, _selector(body.get("runner_selector"))


def _selector(value) -> dict | None:
    if value is None or value == {}:
        return None
    bad = PredictError(
        400,
        resolve.INVALID_REQUEST,
        "Malformed runner_selector",
        "use {'deployment': {'id': ...}} or "
        "{'nodepool': {'id': ..., 'compute_cluster': {'id': ...}}}",
    )
    if not isinstance(value, dict):
        raise bad
    if isinstance(value.get("deployment"), dict):
        deployment = value["deployment"]
        if not isinstance(deployment.get("id"), str) or not deployment["id"]:
            raise bad
        if not isinstance(deployment.get("user_id", ""), str):
            raise bad
        return {"deployment": deployment}
    if isinstance(value.get("nodepool"), dict):
        pool = value["nodepool"]
        cluster = pool.get("compute_cluster")
        if not isinstance(pool.get("id"), str) or not isinstance(cluster, dict):
            raise bad
        if not isinstance(cluster.get("id"), str) or not isinstance(
            cluster.get("user_id", ""), str
        ):
            raise bad
        return {"nodepool": pool}
    raise bad


ROUTER_ERRORS = (ModelError, ModelBadOutput, ModelTimeout, NoReplica, ModelCannotStream)


def router_error(exc: Exception) -> PredictError:
    """What the caller is told when routing to the model failed (one of ROUTER_ERRORS)."""
    if isinstance(exc, ModelError):
        return PredictError(
            422, resolve.MODEL_PREDICTION_FAILED, "Model prediction failed", str(exc)
        )
    if isinstance(exc, ModelBadOutput):
        return PredictError(
            502, resolve.MODEL_PREDICTION_FAILED, "The model returned invalid JSON", str(exc)
        )
    if isinstance(exc, ModelTimeout):
        return PredictError(504, resolve.FAILURE, "Model timed out", str(exc))
    if isinstance(exc, ModelCannotStream):
        return PredictError(
            400, resolve.INVALID_REQUEST, "This model does not stream its outputs", str(exc)
        )
    code = resolve.MODEL_DEPLOYING if exc.deploying else resolve.MODEL_BUSY
    description = "Model is deploying" if exc.deploying else "Model is busy, please retry"
    return PredictError(503, code, description, str(exc))


async def run_prediction(target: resolve.Target, inputs: list[dict]) -> tuple[dict, dict]:
    """Route the inputs and shape the Clarifai response; raises PredictError."""
    started = time.perf_counter()
    try:
        result = await router.predict(target.deployment_id, model_inputs(inputs), target.labels)
    except ROUTER_ERRORS as exc:
        raise router_error(exc) from None
    outputs = result.body.get("outputs")
    if not isinstance(outputs, list) or len(outputs) != len(inputs):
        raise PredictError(
            502, resolve.MODEL_PREDICTION_FAILED, "The model returned malformed outputs"
        )
    body = {"status": OK, "outputs": shape_outputs(target, inputs, outputs)}
    elapsed = (time.perf_counter() - started) * 1000
    headers = {
        "X-Deployment": target.deployment_slug,
        "X-Replica": str(result.backend.replica_id) if result.backend else "",
        "X-Latency-Ms": f"{elapsed:.1f}",
    }
    if result.cold_start:
        headers["X-Cold-Start"] = "1"
    return body, headers


@login_not_required
@csrf_exempt
async def generate(request: HttpRequest, **groups: str | None) -> HttpResponse:
    """Every streaming path (`routes.GENERATE_PATTERNS`), for WSGI and the test client;
    under the ASGI server `predict.fast` serves them, through the same `open_generation`."""
    from orchestration.predict.streaming import ndjson_lines, open_generation

    if request.method != "POST":
        return error_response(PredictError(405, resolve.INVALID_REQUEST, "Use POST"))
    status, error, responses = await open_generation(
        request.headers.get("Authorization", ""), request.body, **routes.where(groups)
    )
    if responses is None:
        return JsonResponse(error, status=status, json_dumps_params=STRICT)
    return StreamingHttpResponse(ndjson_lines(responses), content_type=NDJSON)


NDJSON = "application/x-ndjson"
