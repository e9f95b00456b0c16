"""Nodepool and node forms; memory is typed as a quantity such as 8Gi."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError

from orchestration.clusters.models import Cluster
from orchestration.nodepools.models import NODE_LABEL_PATTERN, Node, Nodepool, Runtime
from orchestration.quantities import format_memory, parse_memory

# Ids that would shadow the nodepool-level URLs under /compute/<cluster>/.
RESERVED_NODEPOOL_IDS = frozenset({"new", "edit", "delete"})
ENGINE_SCHEMES = ("unix", "tcp", "ssh", "http", "https")

# A Swarm manager's engine URL, as the portal and the API accept it: checked before the
# manager is contacted, so that only URLs the Docker client can read are tried. Printable
# ASCII only and no class such as \s: the API's JSON schema states this same pattern.
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST = r"[A-Za-z0-9][A-Za-z0-9-]{0,62}(?:\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*"
MANAGER_URL_PATTERN = rf"^(?:unix:///[!-~]+|(?:tcp|https?)://{_HOST}:{_PORT})$"
MANAGER_URL_HELP = (
    "A manager's engine URL: unix:///var/run/docker.sock or tcp://host:2376 "
    "(TLS from the DOCKER_TLS_* settings)."
)
RUNTIME_HELP = {
    Runtime.DOCKER: "This portal places replicas on the Docker engines you add as nodes.",
    Runtime.SWARM: (
        "A Swarm manager schedules the replicas; the swarm's nodes appear here by themselves."
    ),
}
MAX_NODE_LABELS = 16
_NODE_LABEL_RE = re.compile(NODE_LABEL_PATTERN[1:-1])


def manager_url_problem(url: str) -> str | None:
    """Why `url` is not a manager URL this portal can contact, or None when it is one."""
    if len(url) > 255:
        return "The manager URL is too long (at most 255 characters)."
    if not re.fullmatch(MANAGER_URL_PATTERN[1:-1], url):
        return (
            "Use a manager's engine URL: unix:///var/run/docker.sock, or tcp://host:2376 "
            "(a host name or IPv4 address, and the port)."
        )
    return None


def node_label_problem(item: str) -> str | None:
    """Why `item` is not a key=value node label requirement, or None when it is one."""
    if not _NODE_LABEL_RE.fullmatch(item):
        return (
            f"“{item}” is not a node label requirement: write key=value, such as gpu=a10g "
            "(no spaces)."
        )
    return None


class MemoryField(forms.CharField):
    """Bytes, typed as a Kubernetes quantity ("8Gi", "512Mi", "16G") and shown the same way."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("help_text", "For example 8Gi, 512Mi or 16G.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return format_memory(value)
        return value

    def to_python(self, value) -> int | None:
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            parsed = parse_memory(value)
        except ValueError as exc:
            raise ValidationError(str(exc)[0].upper() + str(exc)[1:] + ".") from None
        if parsed <= 0:
            raise ValidationError("Memory must be more than 0.")
        return parsed


class NodeLabelsField(forms.CharField):
    """Swarm node labels, typed as key=value items separated by commas or spaces (and shown
    back the same way); a list of "key=value" strings once cleaned."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        items = [item for item in re.split(r"[,\s]+", text) if item]
        for item in items:
            problem = node_label_problem(item)
            if problem:
                raise ValidationError(problem)
        if len(items) > MAX_NODE_LABELS:
            raise ValidationError(f"At most {MAX_NODE_LABELS} node labels.")
        return list(dict.fromkeys(items))  # in their order, each once

    def validate(self, value) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")

    def has_changed(self, initial, data) -> bool:
        try:
            return list(initial or []) != self.to_python(data)
        except ValidationError:
            return True


class NodepoolForm(forms.ModelForm):
    memory_bytes = MemoryField(label="Memory", help_text="Per node, for example 8Gi or 512Mi.")
    # Not required: a post without it (no button chosen) keeps the nodepool's runtime.
    runtime = forms.ChoiceField(
        label="Runtime",
        choices=Runtime.choices,
        initial=Runtime.DOCKER,
        required=False,
        widget=forms.RadioSelect,
    )
    manager_url = forms.CharField(
        label="Swarm manager URL", max_length=255, required=False, help_text=MANAGER_URL_HELP
    )
    node_labels = NodeLabelsField(
        label="Node labels",
        help_text=(
            "key=value items, separated by commas or spaces, such as gpu=a10g zone=b: only "
            "the swarm's nodes with all these labels run this nodepool's replicas. Empty: "
            "any node of the swarm."
        ),
    )

    class Meta:
        model = Nodepool
        fields = [
            "slug",
            "description",
            "instance_type",
            "cpu_cores",
            "memory_bytes",
            "accelerators",
            "accelerator_type",
            "accelerator_sharing",
            "price_per_hour",
            "min_nodes",
            "max_nodes",
            "runtime",
            "manager_url",
            "node_labels",
        ]
        labels = {
            "instance_type": "Instance type",
            "cpu_cores": "CPU cores",
            "accelerators": "Accelerators",
            "price_per_hour": "Price per hour (USD)",
            "min_nodes": "Minimum nodes",
            "max_nodes": "Maximum nodes",
        }
        help_texts = {
            "slug": "Lowercase letters, digits, '-' and '_'; unique within the cluster.",
            "instance_type": "The machine type's name, such as t3.large or g5.xlarge.",
            "cpu_cores": "Per node.",
            "accelerators": "GPUs per node; 0 for CPU-only nodes.",
            "accelerator_type": "For example NVIDIA A10G; leave empty without GPUs.",
            "accelerator_sharing": (
                "Off: each replica gets its own devices. On: replicas may share a device "
                "(they share its memory too)."
            ),
            "price_per_hour": "What one node costs per hour, to compare nodepools.",
        }
        widgets = {"description": forms.TextInput()}

    def __init__(self, *args, cluster: Cluster, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        if self.instance.pk:
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "The ID cannot change once the nodepool exists."
        self.fields["manager_url"].widget.attrs["placeholder"] = "unix:///var/run/docker.sock"
        self.fields["node_labels"].widget.attrs["placeholder"] = "gpu=a10g"

    def runtime_options(self) -> list[tuple]:
        """Each runtime's radio button with what it means, for the template."""
        return [(option, RUNTIME_HELP.get(option.data["value"], "")) for option in self["runtime"]]

    def clean_runtime(self) -> str:
        return self.cleaned_data["runtime"] or self.instance.runtime or Runtime.DOCKER

    def clean_manager_url(self) -> str:
        url = self.cleaned_data["manager_url"].strip()
        if url:
            problem = manager_url_problem(url)
            if problem:
                raise ValidationError(problem)
        return url

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if self.instance.pk:
            return self.instance.slug
        if slug in RESERVED_NODEPOOL_IDS:
            raise ValidationError(f"“{slug}” is reserved; choose another ID.")
        # The cluster is set by the view, so ModelForm skips the unique constraint.
        if Nodepool.objects.filter(cluster=self.cluster, slug=slug).exists():
            raise ValidationError("This cluster already has a nodepool with this ID.")
        return slug

    def clean(self) -> dict:
        data = super().clean()
        low, high = data.get("min_nodes"), data.get("max_nodes")
        if low is not None and high is not None and low > high:
            self.add_error("min_nodes", "Minimum nodes cannot be more than maximum nodes.")
        if data.get("runtime") == Runtime.SWARM:
            if not data.get("manager_url") and "manager_url" not in self.errors:
                self.add_error(
                    "manager_url",
                    "A swarm nodepool needs its manager's engine URL, such as "
                    "unix:///var/run/docker.sock.",
                )
        elif data.get("runtime") == Runtime.DOCKER:
            # The swarm settings mean nothing to the product's own scheduler: not kept.
            data["manager_url"] = ""
            data["node_labels"] = []
            self.errors.pop("manager_url", None)
            self.errors.pop("node_labels", None)
        return data


def _plain(number: Decimal) -> Decimal:
    return Decimal(format(number.normalize(), "f"))


def _host_of(engine_url: str) -> str:
    host = urlsplit(engine_url).hostname
    return host or "127.0.0.1"


class NodeForm(forms.ModelForm):
    """Add a node by its Docker engine URL; capacity defaults to the nodepool's instance type."""

    memory_capacity_bytes = MemoryField(label="Memory capacity")
    address = forms.CharField(
        max_length=255,
        required=False,
        help_text="Host or IP where replicas on this node are reached; "
        "empty: the engine URL's host (127.0.0.1 for a unix socket).",
    )

    class Meta:
        model = Node
        fields = [
            "name",
            "engine_url",
            "address",
            "cpu_capacity",
            "memory_capacity_bytes",
            "accelerators",
            "accelerator_type",
        ]
        labels = {
            "name": "Name",
            "cpu_capacity": "CPU capacity",
            "accelerators": "Accelerators",
            "accelerator_type": "Accelerator type",
        }
        help_texts = {
            "name": "Lowercase letters, digits, '-' and '_'; unique within the nodepool.",
            "engine_url": (
                "unix:///var/run/docker.sock, or tcp://host:2376 with TLS (the client "
                "certificate comes from the DOCKER_TLS_* settings)."
            ),
            "cpu_capacity": "Cores replicas may use on this node.",
            "accelerators": "GPUs on this node; devices the engine reports replace this count.",
            "accelerator_type": "Empty: the nodepool's type.",
        }

    def __init__(self, *args, nodepool: Nodepool, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                # 2, not 2.000: the nodepool's Decimal carries the column's places.
                "cpu_capacity": _plain(nodepool.cpu_cores),
                "memory_capacity_bytes": nodepool.memory_bytes,
                "accelerators": nodepool.accelerators,
            },
        )
        super().__init__(*args, **kwargs)
        self.nodepool = nodepool
        self.fields["engine_url"].widget.attrs["placeholder"] = "tcp://10.0.0.5:2376"

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Node.objects.filter(nodepool=self.nodepool, name=name).exists():
            raise ValidationError("This nodepool already has a node with this name.")
        return name

    def clean_engine_url(self) -> str:
        url = self.cleaned_data["engine_url"].strip()
        parts = urlsplit(url)
        if parts.scheme not in ENGINE_SCHEMES:
            raise ValidationError(
                "Use a Docker engine URL: unix:///var/run/docker.sock or tcp://host:2376."
            )
        if parts.scheme == "unix" and not parts.path:
            raise ValidationError("A unix:// URL needs the socket's path.")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValidationError("The engine URL needs a host, as in tcp://host:2376.")
        return url

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("address") and data.get("engine_url"):
            data["address"] = _host_of(data["engine_url"])
        return data
