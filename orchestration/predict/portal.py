"""The model Overview tab's predict form: the same routing as the API, shown readably."""

from __future__ import annotations

import base64
import time

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from orchestration import jsonsafe
from orchestration.accounts.access import Perm
from orchestration.catalog.models import Model
from orchestration.deployments.models import Replica
from orchestration.predict import images, observe, resolve
from orchestration.predict.resolve import PredictError
from orchestration.predict.router import router
from orchestration.predict.streaming import start_generation
from orchestration.predict.views import NDJSON, run_prediction


async def _run(target: resolve.Target, inputs: list[dict], once: bool) -> tuple[dict, dict]:
    started = time.perf_counter()
    status = 500
    try:
        answer = await run_prediction(target, inputs)
        status = 200
        return answer
    except PredictError as exc:
        status = exc.http_status
        raise
    finally:
        observe.answered(target.labels, status, "portal", time.perf_counter() - started)
        if once:
            # Outside an ASGI server this event loop ends with the call: close its pool.
            await router.aclose()


@require_http_methods(["GET", "POST"])
def predict(request: HttpRequest, slug: str) -> HttpResponse:
    model = _get_model(request, slug)
    if request.method == "GET":
        return redirect(model)
    context = {"model": model, **_predict(request, model)}
    template = "catalog/_predict_result.html" if request.htmx else "catalog/predict_page.html"
    return render(request, template, context)


def _get_model(request: HttpRequest, slug: str) -> Model:
    """The space's model (another space's is a 404), when the role may predict."""
    model = Model.objects.owned_by(request.space.account).filter(slug=slug).first()
    if model is None:
        raise Http404("No such model")
    request.space.require(Perm.PREDICT)
    return model


def _form_input(request: HttpRequest) -> dict:
    """The data object the form sends, or {"error": ...} saying what is missing."""
    text = request.POST.get("text", "").strip()
    image = request.FILES.get("image")
    if image is not None and image.size:
        if image.size > settings.PREDICT_IMAGE_MAX_BYTES:
            limit = settings.PREDICT_IMAGE_MAX_BYTES
            size = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit} bytes"
            return {"error": f"The image is larger than {size} (PREDICT_IMAGE_MAX_BYTES)."}
        content = image.read()
        try:
            images.check_bytes(content, "The file")
        except PredictError as exc:
            return {"error": exc.description + ".", "details": exc.details}
        return {"image": {"base64": base64.b64encode(content).decode()}}
    if text:
        return {"text": {"raw": text}}
    return {"error": "Type some text (or choose an image) to send to the model."}


def _form_target(request: HttpRequest, model: Model) -> resolve.Target:
    """The deployment the form chose (Shared by default), as the API resolves it."""
    deployment_slug = request.POST.get("deployment", "").strip() or None
    # The space's owner account: its deployments are the ones the form chooses among.
    caller = resolve.Caller(request.space.account.pk, request.space.slug)
    selector = {"deployment": {"id": deployment_slug}} if deployment_slug else None
    return async_to_sync(resolve.target_for)(
        caller,
        user_id=None,
        model_slug=model.slug,
        version_id=None,
        deployment_slug=None,
        selector=selector,
    )


def _predict(request: HttpRequest, model: Model) -> dict:
    data = _form_input(request)
    if "error" in data:
        return data
    try:
        target = _form_target(request, model)
        once = not isinstance(request, ASGIRequest)
        body, headers = async_to_sync(_run)(target, [{"id": "portal", "data": data}], once)
    except PredictError as exc:
        return {"error": exc.description, "details": exc.details}
    output = body["outputs"][0]["data"]
    replica = (
        Replica.objects.select_related("node").filter(pk=int(headers["X-Replica"])).first()
        if headers.get("X-Replica")
        else None
    )
    return {
        "output": output,
        "image_src": _image_src(data),
        "concepts": shown_concepts(output.get("concepts")),
        "text_out": (output.get("text") or {}).get("raw"),
        "deployment_slug": target.deployment_slug,
        "replica": replica,
        "latency_ms": headers.get("X-Latency-Ms"),
        "cold_start": bool(headers.get("X-Cold-Start")),
        "version_id": target.version_id,
    }


def _image_src(data: dict) -> str | None:
    """The sent image as a data: URL, shown beside its concepts (the CSP allows data:
    images, and the page needs no second request for it)."""
    encoded = (data.get("image") or {}).get("base64")
    if not encoded:
        return None
    kind = images.image_kind(base64.b64decode(encoded[:44]))
    return f"data:image/{kind};base64,{encoded}" if kind else None


def shown_concepts(concepts) -> list[dict]:
    """Concepts for the result, most likely first. A value in [0, 1] is a probability,
    shown as a percentage bar; any other (a count of 3, a score of -2) as a plain number."""
    if not isinstance(concepts, list):
        return []
    shown = []
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        value = concept.get("value", 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            value = 0
        label = concept.get("name") or concept.get("id") or "?"
        item = {"label": str(label), "value": value}
        if 0 <= value <= 1:
            item["percent"] = round(value * 100, 1)
        shown.append(item)
    return sorted(shown, key=lambda c: -c["value"])


@require_http_methods(["POST"])
def generate(request: HttpRequest, slug: str) -> HttpResponse:
    """The form's Stream button: the model's text as it is generated, one JSON line per
    chunk (`{"text": ...}`), then `{"done": ...}` or `{"error": ...}`; static/js/portal.js
    appends each chunk to the page as it arrives."""
    model = _get_model(request, slug)
    data = _form_input(request)
    if "error" in data:
        return _lines([data])
    try:
        target = _form_target(request, model)
    except PredictError as exc:
        return _lines([{"error": exc.description, "details": exc.details}])
    return StreamingHttpResponse(_stream(target, data), content_type=NDJSON)


async def _stream(target: resolve.Target, data: dict):
    started = time.perf_counter()
    status, error, responses = await start_generation(
        target, [{"id": "portal", "data": data}], transport="portal"
    )
    if responses is None:
        yield _line(
            {"error": error["status"]["description"], "details": error["status"]["details"]}
        )
        return
    try:
        async for response in responses:
            if response["status"]["code"] != resolve.SUCCESS:
                status = response["status"]
                yield _line({"error": status["description"], "details": status.get("details", "")})
                return
            yield _line({"text": _text_of(response["outputs"][0]["data"])})
    finally:
        await responses.aclose()
    elapsed = (time.perf_counter() - started) * 1000
    yield _line({"done": True, "deployment": target.deployment_slug, "ms": round(elapsed, 1)})


def _text_of(data: dict) -> str:
    """A chunk's text; a chunk that is not text is shown as its JSON."""
    text = (data.get("text") or {}).get("raw") if isinstance(data.get("text"), dict) else None
    return text if isinstance(text, str) else jsonsafe.dumps(data)


def _line(item: dict) -> bytes:
    return jsonsafe.dumpb(item) + b"\n"


def _lines(items: list[dict]) -> HttpResponse:
    return HttpResponse(b"".join(_line(item) for item in items), content_type=NDJSON)
