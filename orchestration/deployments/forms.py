"""The deploy form (create) and the deployment settings form (edit).

Labels are the portal texts of SPEC.md, exactly. Choices are narrowed to what the user
may use, so a forged id of someone else's model, version or nodepool is simply not a
valid choice: the form refuses it and nothing is created.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orchestration.catalog.models import BuildStatus, Model, ModelVersion
from orchestration.clusters.access import visible_clusters
from orchestration.clusters.models import Cluster, slug_validator
from orchestration.deployments.models import (
    AUTOSCALE_DEFAULTS,
    Deployment,
    autoscale_errors,
    constraint_message,
)
from orchestration.nodepools.models import Nodepool

RESERVED_DEPLOYMENT_IDS = frozenset({"new"})  # /deployments/new/ is the deploy form
MAX_REPLICAS = 1000
MAX_DELAY_SECONDS = 30 * 24 * 3600

_DELAY_ERRORS = {
    "min_value": "Delays cannot be negative; use 0 for no delay.",
    "max_value": f"Use at most {MAX_DELAY_SECONDS} seconds (30 days).",
}


ALREADY_DEPLOYED = constraint_message("one_deployment_per_model_per_nodepool")
ID_TAKEN = constraint_message("deployment_slug_unique_per_owner")

# full_clean()'s constraint errors (non-field) -> the field that shows them.
DEPLOYMENT_CONSTRAINT_FIELDS = {
    "deployment_slug_unique_per_owner": "slug",
    "one_deployment_per_model_per_nodepool": "nodepool",
    "deployment_min_lte_max": "min_replicas",
    "deployment_max_gte_1": "max_replicas",
    "deployment_zero_delay_gte_down_delay": "scale_to_zero_delay_seconds",
    "deployment_target_concurrency_gte_1": "target_concurrency",
    "deployment_delays_not_negative": "scale_down_delay_seconds",
}


def already_deployed_error(existing: Deployment) -> SafeString:
    """The unique (model, nodepool) message, with a link to the deployment that holds it."""
    return format_html(
        '{} <a href="{}">Open deployment {}</a>',
        ALREADY_DEPLOYED,
        existing.get_absolute_url(),
        existing.slug,
    )


def _delay_field(label: str, name: str, help_text: str) -> forms.IntegerField:
    default = AUTOSCALE_DEFAULTS[name]
    return forms.IntegerField(
        label=label,
        min_value=0,
        max_value=MAX_DELAY_SECONDS,
        initial=default,
        help_text=f"Seconds (default {default}). {help_text}",
        error_messages=_DELAY_ERRORS,
    )


class DeploymentSettingsForm(forms.Form):
    """The autoscale settings of SPEC.md, each with its default and what it costs."""

    min_replicas = forms.IntegerField(
        label="Minimum replicas",
        min_value=0,
        max_value=MAX_REPLICAS,
        initial=AUTOSCALE_DEFAULTS["min_replicas"],
        help_text=(
            f"Default {AUTOSCALE_DEFAULTS['min_replicas']}. Replicas kept running even without "
            "traffic; 0 lets the deployment scale to zero. Every running replica costs compute."
        ),
        error_messages={"min_value": "Minimum replicas cannot be negative."},
    )
    max_replicas = forms.IntegerField(
        label="Maximum replicas",
        min_value=1,
        max_value=MAX_REPLICAS,
        initial=AUTOSCALE_DEFAULTS["max_replicas"],
        help_text=(
            f"Default {AUTOSCALE_DEFAULTS['max_replicas']}. The most replicas the autoscaler "
            "adds under load; more replicas serve more traffic and cost more."
        ),
        error_messages={"min_value": "Maximum replicas must be at least 1."},
    )
    scale_down_delay_seconds = _delay_field(
        "Scale down delay",
        "scale_down_delay_seconds",
        "How long fewer replicas must be wanted before some are removed; "
        "longer keeps (and pays for) replicas longer.",
    )
    traffic_history_seconds = _delay_field(
        "Scaling timeframe",
        "traffic_history_seconds",
        "The traffic window the autoscaler averages before deciding; "
        "shorter reacts to bursts with more (costlier) replicas.",
    )
    scale_up_delay_seconds = _delay_field(
        "Scale up delay",
        "scale_up_delay_seconds",
        "How long more replicas must be wanted before they are added; "
        "shorter adds (and pays for) replicas sooner.",
    )
    scale_to_zero_delay_seconds = _delay_field(
        "Scale to zero delay",
        "scale_to_zero_delay_seconds",
        "Idle time before the last replica stops when the minimum is 0; "
        "at least the scale down delay. Longer keeps a paid replica warm.",
    )
    target_concurrency = forms.IntegerField(
        label="Target concurrency",
        min_value=1,
        max_value=10000,
        initial=AUTOSCALE_DEFAULTS["target_concurrency"],
        help_text=(
            f"Default {AUTOSCALE_DEFAULTS['target_concurrency']}. In-flight requests one "
            "replica should carry; lower values start more replicas, which cost more."
        ),
        error_messages={"min_value": "Target concurrency must be at least 1."},
    )

    SETTINGS = tuple(AUTOSCALE_DEFAULTS)

    def clean(self) -> dict:
        data = super().clean()
        config = {name: data.get(name) for name in self.SETTINGS}
        for error in autoscale_errors(config):
            self.add_error(DEPLOYMENT_CONSTRAINT_FIELDS[error["field"]], error["message"])
        return data

    def settings_errors(self) -> bool:
        """Whether a field inside Advanced settings has an error (to open the section)."""
        return any(name in self.errors for name in self.SETTINGS)

    def clean_model_version_status(self, version: ModelVersion | None) -> None:
        if version is not None and version.build_status == BuildStatus.FAILED:
            self.add_error(
                "model_version",
                f"Version v{version.number} failed to build; choose another version "
                "or upload a fixed one.",
            )


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"v{obj.number} · {obj.get_build_status_display().lower()}"


class NodepoolChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Nodepool) -> str:
        return f"{obj.slug} · {obj.instance_type}" if obj.instance_type else obj.slug


class ClusterChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Cluster) -> str:
        where = " ".join(filter(None, [obj.get_cloud_provider_display(), obj.region]))
        return f"{obj.slug} · {where}" if where else obj.slug


class DeploymentCreateForm(DeploymentSettingsForm):
    """Deployment details, model and version, cluster and nodepool, then the settings.

    Choices are ids (slugs, version ids), as in the URLs: ?model=&cluster=&nodepool=.
    The version and nodepool lists depend on the model and cluster chosen; an unbound
    form takes those from ``initial`` (the query string or a no-JS re-render).
    """

    slug = forms.CharField(
        label="Deployment ID",
        max_length=64,
        validators=[slug_validator],
        help_text="Lowercase letters, digits, '-' and '_'; names the deployment in the API.",
    )
    description = forms.CharField(label="Description", max_length=300, required=False)
    model = forms.ModelChoiceField(
        label="Model",
        queryset=Model.objects.none(),
        to_field_name="slug",
        empty_label="Choose a model",
    )
    model_version = VersionChoiceField(
        label="Version",
        queryset=ModelVersion.objects.none(),
        to_field_name="version_id",
        empty_label="Choose a version",
    )
    cluster = ClusterChoiceField(
        label="Cluster",
        queryset=Cluster.objects.none(),
        to_field_name="slug",
        empty_label="Choose a cluster",
    )
    nodepool = NodepoolChoiceField(
        label="Nodepool",
        queryset=Nodepool.objects.none(),
        to_field_name="slug",
        empty_label="Choose a nodepool",
    )

    field_order = ["slug", "description", "model", "model_version", "cluster", "nodepool"]

    def __init__(self, data=None, *, user, initial=None, **kwargs) -> None:
        super().__init__(data, initial=initial, **kwargs)
        self.user = user
        # Choosing a model (or cluster) re-renders its section of the form with htmx:
        # the versions of that model (the nodepools of that cluster) and their details.
        create_url = reverse("deployments:create")
        for name, section in (
            ("model", "model-section"),
            ("model_version", "model-section"),
            ("cluster", "compute-section"),
            ("nodepool", "compute-section"),
        ):
            self.fields[name].widget.attrs.update(
                {
                    "hx-get": create_url,
                    "hx-trigger": "change",
                    "hx-target": f"#{section}",
                    "hx-swap": "outerHTML",
                    "hx-include": f"#{section}",
                }
            )
        self.fields["model"].queryset = Model.objects.owned_by(user).order_by("slug")
        self.fields["cluster"].queryset = visible_clusters(user).order_by("-is_shared", "slug")

        self.selected_model = self._chosen("model")
        versions = ModelVersion.objects.none()
        if self.selected_model is not None:
            versions = self.selected_model.versions.order_by("-number")
        self.fields["model_version"].queryset = versions
        self.selected_version = self._chosen("model_version")
        if self.selected_version is None and self.selected_model is not None and not self.is_bound:
            # Ready versions first: the newest one that can start right away.
            self.selected_version = self.selected_model.latest_ready_version() or versions.first()
            if self.selected_version is not None:
                self.initial["model_version"] = self.selected_version.version_id

        self.selected_cluster = self._chosen("cluster")
        nodepools = Nodepool.objects.none()
        if self.selected_cluster is not None:
            nodepools = self.selected_cluster.nodepools.order_by("slug")
        self.fields["nodepool"].queryset = nodepools
        self.selected_nodepool = self._chosen("nodepool")
        if self.selected_nodepool is None and not self.is_bound and len(nodepools) == 1:
            self.selected_nodepool = nodepools[0]
            self.initial["nodepool"] = self.selected_nodepool.slug

    def _chosen(self, name: str):
        """The object picked for a choice field, from the POST or the initial values;
        None when nothing (or something not offered) is picked."""
        field = self.fields[name]
        raw = self.data.get(self.add_prefix(name)) if self.is_bound else self.initial.get(name)
        if isinstance(raw, field.queryset.model):
            raw = getattr(raw, field.to_field_name)
        if not raw:
            return None
        try:
            return field.to_python(raw)
        except ValidationError:
            return None

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug in RESERVED_DEPLOYMENT_IDS:
            raise ValidationError(f"“{slug}” is reserved; choose another ID.")
        if Deployment.objects.filter(owner=self.user, slug=slug).exists():
            raise ValidationError(ID_TAKEN)
        return slug

    def clean(self) -> dict:
        data = super().clean()
        model, version = data.get("model"), data.get("model_version")
        if model is not None and version is not None and version.model_id != model.pk:
            self.add_error("model_version", "Choose a version of the chosen model.")
        self.clean_model_version_status(version)
        cluster, nodepool = data.get("cluster"), data.get("nodepool")
        if cluster is not None and nodepool is not None and nodepool.cluster_id != cluster.pk:
            self.add_error("nodepool", "Choose a nodepool of the chosen cluster.")
        if model is not None and nodepool is not None:
            existing = Deployment.objects.active().filter(model=model, nodepool=nodepool).first()
            if existing is not None:
                self.add_error("nodepool", already_deployed_error(existing))
        return data


class DeploymentEditForm(DeploymentSettingsForm):
    """What may change on a deployment: its description, version and autoscale settings."""

    description = forms.CharField(label="Description", max_length=300, required=False)
    model_version = VersionChoiceField(
        label="Version",
        queryset=ModelVersion.objects.none(),
        to_field_name="version_id",
        empty_label=None,
    )

    field_order = ["description", "model_version"]

    def __init__(self, data=None, *, deployment: Deployment, **kwargs) -> None:
        initial = {name: getattr(deployment, name) for name in self.SETTINGS}
        initial["description"] = deployment.description
        initial["model_version"] = deployment.model_version.version_id
        super().__init__(data, initial=initial, **kwargs)
        self.deployment = deployment
        self.fields["model_version"].queryset = deployment.model.versions.order_by("-number")

    def clean(self) -> dict:
        data = super().clean()
        version = data.get("model_version")
        if version is not None and version.pk != self.deployment.model_version_id:
            self.clean_model_version_status(version)
        return data
