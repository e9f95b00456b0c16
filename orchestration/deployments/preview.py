"""The what-if preview of the deploy and edit forms: settings being typed, replayed traffic.

`build_preview` reads the form's fields (query parameters, all optional), validates the
autoscale settings as the form does (a bad value gives messages, never an exception),
replays the chosen model's last hour of traffic (all its deployments summed) or, when
there is none, a synthetic shape through `simulate`, and charts the replicas it would run.

Only the user's own models and deployments, and nodepools of clusters visible to them,
are used: anything else named in the parameters is ignored (synthetic traffic, no price),
so nobody sees another user's traffic.

Bounded: the traffic is one hour in 5 s buckets (720 steps), whatever the settings; the
settings are capped by the form's own limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from orchestration.autoscaling.buckets import BUCKET_SECONDS
from orchestration.autoscaling.policy import AutoscaleSettings
from orchestration.autoscaling.simulate import (
    SHAPES,
    SimulationResult,
    simulate,
    synthetic_traffic,
)
from orchestration.catalog.models import Model
from orchestration.clusters.access import visible_clusters
from orchestration.deployments.forms import DeploymentSettingsForm
from orchestration.deployments.history import (
    IN_FLIGHT_COLOR,
    TARGET_COLOR,
    WANTED_COLOR,
    WINDOW_SECONDS,
    compact_line,
    compact_steps,
    traffic_history,
)
from orchestration.deployments.models import AUTOSCALE_DEFAULTS, Deployment
from orchestration.nodepools.models import Nodepool
from orchestration.web.charts import Marker, Series, change_markers, line_chart

DEFAULT_SHAPE = "spike"
SHAPE_LABELS = {
    "steady": "Steady",
    "spike": "Spike",
    "daily": "Daily rise and fall",
    "bursty": "Bursty (10 min on/off)",
    "idle-then-burst": "Idle, then a burst",
}
SYNTHETIC_PEAK_IN_FLIGHT = 16.0


@dataclass
class Preview:
    settings: AutoscaleSettings | None = None
    errors: list[str] = field(default_factory=list)
    model: Model | None = None
    nodepool: Nodepool | None = None
    real_traffic: bool = False
    shape: str = DEFAULT_SHAPE
    result: SimulationResult | None = None
    traffic_svg: SafeString = SafeString("")
    replicas_svg: SafeString = SafeString("")
    deployment: Deployment | None = None

    shapes = tuple((name, SHAPE_LABELS.get(name, name)) for name in SHAPES)

    @property
    def price(self) -> Decimal | None:
        """The nodepool's price per hour, or None when there is none (or it is 0)."""
        if self.nodepool is None or not self.nodepool.price_per_hour:
            return None
        return self.nodepool.price_per_hour

    @property
    def cost(self) -> float | None:
        if self.result is None or self.price is None:
            return None
        return self.result.cost(float(self.price))

    @property
    def cost_display(self) -> str:
        """ "$0.42" (shown with "for this hour" after it) or "price not set"."""
        cost = self.cost
        return "price not set" if cost is None else format_dollars(cost)


def format_dollars(amount: float) -> str:
    """$12.34, $0.42; small amounts keep 4 decimals ($0.0416) so they do not read as $0."""
    if amount == 0 or abs(amount) >= 0.1:
        return f"${amount:,.2f}"
    return f"${amount:.4f}"


def preview_params(form: forms.Form, **extra: str) -> dict[str, str]:
    """The preview's parameters from a deploy or edit form, bound or not."""
    params = {}
    for name in (*DeploymentSettingsForm.SETTINGS, "model", "cluster", "nodepool"):
        if name in form.fields:
            value = form[name].value()
            if value is not None:
                params[name] = str(value)
    if form.is_bound and form.data.get("traffic_shape"):
        params["traffic_shape"] = str(form.data["traffic_shape"])
    params.update(extra)
    return params


def _param(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    return str(value).strip() if value is not None else ""


def _settings(params: Mapping[str, str]) -> tuple[AutoscaleSettings | None, list[str]]:
    """The settings typed in, validated by the form's own rules; missing ones are defaults."""
    data = {}
    for name, default in AUTOSCALE_DEFAULTS.items():
        value = _param(params, name)
        data[name] = value if value else str(default)
    form = DeploymentSettingsForm(data)
    if form.is_valid():
        return AutoscaleSettings.from_object(form.cleaned_data), []
    errors = []
    for name, messages in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for message in messages:
            text = str(message)
            errors.append(text if not label or text.startswith(label) else f"{label}: {text}")
    return None, errors


def _scope(
    user, params: Mapping[str, str]
) -> tuple[Deployment | None, Model | None, Nodepool | None]:
    """The deployment (edit form) or model and nodepool (deploy form) the user may use."""
    slug = _param(params, "deployment")
    if slug:
        deployment = (
            Deployment.objects.owned_by(user)
            .select_related("model", "nodepool__cluster")
            .filter(slug=slug)
            .first()
        )
        if deployment is not None:
            return deployment, deployment.model, deployment.nodepool
    model = None
    model_slug = _param(params, "model")
    if model_slug:
        model = Model.objects.owned_by(user).filter(slug=model_slug).first()
    nodepool = None
    cluster_slug, nodepool_slug = _param(params, "cluster"), _param(params, "nodepool")
    if cluster_slug and nodepool_slug:
        nodepool = (
            Nodepool.objects.filter(cluster__in=visible_clusters(user), cluster__slug=cluster_slug)
            .select_related("cluster")
            .filter(slug=nodepool_slug)
            .first()
        )
    return None, model, nodepool


def build_preview(user, params: Mapping[str, str], *, now=None) -> Preview:
    """Validate the settings, choose the traffic, simulate the hour and chart it."""
    deployment, model, nodepool = _scope(user, params)
    preview = Preview(deployment=deployment, model=model, nodepool=nodepool)
    shape = _param(params, "traffic_shape")
    preview.shape = shape if shape in SHAPES else DEFAULT_SHAPE

    traffic = None
    if model is not None:
        end = (now or timezone.now()).timestamp()
        history = traffic_history(Deployment.objects.filter(model=model), end=end)
        if history.has_traffic:
            traffic = history.policy_samples()
            preview.real_traffic = True
    if traffic is None:
        traffic = synthetic_traffic(
            preview.shape,
            duration_seconds=WINDOW_SECONDS,
            step_seconds=BUCKET_SECONDS,
            peak_in_flight=SYNTHETIC_PEAK_IN_FLIGHT,
        )

    preview.settings, preview.errors = _settings(params)
    if preview.settings is None:
        return preview
    result = simulate(preview.settings, traffic, step_seconds=BUCKET_SECONDS)
    preview.result = result
    preview.traffic_svg, preview.replicas_svg = _charts(preview, traffic, result)
    return preview


def _charts(preview: Preview, traffic, result: SimulationResult) -> tuple[SafeString, SafeString]:
    settings = preview.settings
    lo, hi = settings.bounds
    if preview.real_traffic:
        # Epoch seconds, labelled "-60 min" … "now".
        def x(at: float) -> float:
            return at

        end = traffic[-1].at
        x_range = (end - WINDOW_SECONDS, end)
        time_axis = {"x_is_time": True, "x_range": x_range}
    else:
        # The example hour, in minutes from its start.
        def x(at: float) -> float:
            return at / 60.0

        time_axis = {
            "x_is_time": False,
            "x_range": (0.0, WINDOW_SECONDS / 60.0),
            "x_label": "minutes into the example hour",
        }

    in_flight = compact_line([(x(s.at), s.in_flight) for s in traffic])
    traffic_svg = line_chart(
        [Series("In-flight", in_flight, color=IN_FLIGHT_COLOR, css_class="series-in-flight")],
        width=900,
        height=170 if preview.real_traffic else 186,
        title="Traffic replayed",
        y_label="In flight",
        y_unit="requests",
        chart_id="chart-preview-traffic",
        **time_axis,
    )
    wanted = compact_steps([(x(p.at), float(p.wanted)) for p in result.timeline])
    replicas = compact_steps([(x(p.at), float(p.replicas)) for p in result.timeline])
    markers = change_markers(result.decisions, start_replicas=result.start_replicas)
    replicas_svg = line_chart(
        [
            Series(
                "Wanted",
                wanted,
                step=True,
                dashed=True,
                color=WANTED_COLOR,
                css_class="series-wanted",
            ),
            Series("Replicas", replicas, step=True, color=TARGET_COLOR, css_class="series-target"),
        ],
        width=900,
        height=220 if preview.real_traffic else 236,
        title="Replicas these settings would run",
        y_label="Count",
        y_unit="replicas",
        band=(lo, hi),
        band_label=f"min–max ({lo}–{hi})",
        markers=[Marker(x=x(m.x), label=m.label) for m in markers],
        chart_id="chart-preview-replicas",
        **time_axis,
    )
    return mark_safe(traffic_svg), mark_safe(replicas_svg)  # noqa: S308 - escaped by line_chart
