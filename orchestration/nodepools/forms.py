"""Nodepool and node forms; memory is typed as a quantity such as 8Gi."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError

from orchestration.clusters.models import Cluster
from orchestration.nodepools.models import Node, Nodepool
from orchestration.quantities import format_memory, parse_memory

# Ids that would shadow the nodepool-level URLs under /compute/<cluster>/.
RESERVED_NODEPOOL_IDS = frozenset({"new", "edit", "delete"})
ENGINE_SCHEMES = ("unix", "tcp", "ssh", "http", "https")


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


class NodepoolForm(forms.ModelForm):
    memory_bytes = MemoryField(label="Memory", help_text="Per node, for example 8Gi or 512Mi.")

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
