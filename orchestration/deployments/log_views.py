"""A deployment's replica logs in the portal: the panel on its page, the panel's poll for
new lines, and the download of a replica's whole log.

The panel follows a log by htmx polling (every 2 s, only while a replica is picked):
each poll is one short engine call bounded by `logs.READ_TIMEOUT`, where a server-sent
event stream would hold a web worker for as long as the page stays open.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from orchestration.deployments import logs
from orchestration.deployments.models import Deployment
from orchestration.deployments.views import _get_deployment_for_user
from orchestration.web.htmx import htmx_partial, render_htmx

PANEL_TARGET = "replica-logs"
POLL_TARGET = "log-poll"
# New lines one poll may add to the page: a chatty model is followed, not replayed.
POLL_TAIL = 500
# htmx stops an element's polling when it answers this.
STOP_POLLING = 286


def _deployment(request: HttpRequest, slug: str) -> Deployment | HttpResponse:
    """The user's deployment, or for a poll that outlived it, a redirect off the page."""
    try:
        return _get_deployment_for_user(request, slug)
    except Http404:
        if htmx_partial(request, POLL_TARGET) or htmx_partial(request, PANEL_TARGET):
            # Still a 404 (htmx follows HX-Redirect whatever the status): a forged
            # request learns nothing, and the poll stops.
            messages.info(request, f"Deployment {slug} no longer exists.")
            response = HttpResponseClientRedirect(reverse("deployments:list"))
            response.status_code = 404
            return response
        raise


@require_http_methods(["GET"])
def deployment_logs(request: HttpRequest, slug: str) -> HttpResponse:
    """The logs panel (?replica=N picks one), its poll (?since=), or without JavaScript
    a page of its own."""
    deployment = _deployment(request, slug)
    if isinstance(deployment, HttpResponse):
        return deployment
    context: dict = {"section": "deployments", "deployment": deployment, "log": None}
    problem = ""
    if request.GET.get("replica"):
        try:
            replica = logs.find_replica(deployment, request.GET["replica"])
        except logs.LogParamError as exc:
            if htmx_partial(request, POLL_TARGET):
                return HttpResponse(status=STOP_POLLING)
            problem = f"{exc.message[0].upper()}{exc.message[1:]}: pick one of its replicas."
        else:
            try:
                since_ns = logs.parse_since(request.GET.get("since"))
            except logs.LogParamError:
                since_ns = 0  # a mangled poll URL starts over from the tail
            if htmx_partial(request, POLL_TARGET):
                log = logs.read_log(replica, tail=POLL_TAIL, since_ns=since_ns)
                return _poll(request, deployment, log)
            context["log"] = logs.read_log(replica, tail=logs.DEFAULT_TAIL)
    elif htmx_partial(request, POLL_TARGET):
        return HttpResponse(status=STOP_POLLING)  # no replica: nothing to follow
    context["log_replicas"] = logs.log_replicas(deployment)
    context["problem"] = problem
    return render_htmx(
        request, "deployments/logs.html", "deployments/_logs.html", context, target=PANEL_TARGET
    )


def _poll(request: HttpRequest, deployment: Deployment, log: logs.ReplicaLog) -> HttpResponse:
    context = {"deployment": deployment, "log": log}
    response = render(request, "deployments/_log_poll_answer.html", context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@require_http_methods(["GET"])
def replica_log_download(request: HttpRequest, slug: str, replica_id: int) -> HttpResponse:
    """The replica's whole log as a text file; why not, as plain text, when it cannot be
    read (404 when its container is gone, 503 when it cannot be read now)."""
    deployment = _get_deployment_for_user(request, slug)
    try:
        replica = logs.find_replica(deployment, replica_id)
    except logs.LogParamError as exc:
        raise Http404(exc.message) from None
    log = logs.read_whole_log(replica)
    if log.error:
        status = 404 if log.gone else 503
        return HttpResponse(
            log.error + "\n", status=status, content_type="text/plain; charset=utf-8"
        )
    # As the engine kept it: the lines are not cut here, and invalid UTF-8 stays as it was.
    response = HttpResponse(log.raw, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{logs.download_name(replica)}"'
    response["Cache-Control"] = "no-store"
    return response
