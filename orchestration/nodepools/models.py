"""Nodepools (nodes of one instance type in a cluster) and nodes (Docker engines)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from orchestration.clusters.models import SLUG_PATTERN, Cluster, slug_validator
from orchestration.db import OwnedQuerySet
from orchestration.nodepools.accelerators import MAX_ACCELERATORS
from orchestration.quantities import format_memory


class Runtime(models.TextChoices):
    """Who schedules a nodepool's replicas (see docs/runtimes.md)."""

    DOCKER = "docker", "Docker engines"
    SWARM = "swarm", "Docker Swarm"


# A Swarm node label requirement: key=value (Docker's own label syntax, no spaces).
NODE_LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}=[^\s=]{1,128}$"


def validate_node_labels(value) -> None:
    import re

    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or len(value) > 16:
        raise ValidationError("Node labels must be a list of at most 16 key=value strings.")
    for item in value:
        if not isinstance(item, str) or not re.match(NODE_LABEL_PATTERN, item):
            raise ValidationError(
                f"“{item}” is not a node label requirement: write key=value, such as "
                "gpu=a10g (no spaces)."
            )


class NodepoolQuerySet(OwnedQuerySet):
    owner_field = "cluster__owner"

    def visible_to(self, user) -> NodepoolQuerySet:
        return self.filter(Q(cluster__owner=user) | Q(cluster__is_shared=True))


class Nodepool(models.Model):
    """Nodes of one instance type inside a cluster; deployments are placed on a nodepool."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodepools")
    slug = models.CharField("ID", max_length=64, validators=[slug_validator])
    description = models.CharField(max_length=300, blank=True)
    instance_type = models.CharField(max_length=64, default="docker-host")
    cpu_cores = models.DecimalField(
        "CPU cores",
        max_digits=8,
        decimal_places=3,
        default=Decimal("2"),
        validators=[MinValueValidator(Decimal("0.001"))],
    )
    memory_bytes = models.BigIntegerField(
        "memory (bytes)", default=4 * 1024**3, validators=[MinValueValidator(1)]
    )
    accelerators = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(MAX_ACCELERATORS)]
    )
    accelerator_type = models.CharField(max_length=64, blank=True)
    # Off: a device belongs to one replica at a time, so a model never finds another's
    # memory on its GPU. On: replicas are spread over the devices, several to each.
    accelerator_sharing = models.BooleanField(
        "share accelerators",
        default=False,
        help_text="Let several replicas use the same accelerator device.",
    )
    price_per_hour = models.DecimalField(
        "price per hour (USD)",
        max_digits=10,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    min_nodes = models.PositiveIntegerField(default=0)
    max_nodes = models.PositiveIntegerField(default=1)
    # docker: the product places replicas on the nodes listed here. swarm: a Swarm
    # manager schedules them, and the nodes are the swarm's, read from the manager.
    runtime = models.CharField(max_length=16, choices=Runtime.choices, default=Runtime.DOCKER)
    manager_url = models.CharField(
        "Swarm manager URL",
        max_length=255,
        blank=True,
        help_text="A manager's Docker engine URL: unix:///var/run/docker.sock or tcp://host:2376",
    )
    node_labels = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_node_labels],
        help_text="Swarm node labels (key=value) a node needs to run this nodepool's replicas.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NodepoolQuerySet.as_manager()

    class Meta:
        ordering = ["cluster__slug", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "slug"],
                name="nodepool_slug_unique_per_cluster",
                violation_error_message="This cluster already has a nodepool with this ID.",
            ),
            models.CheckConstraint(
                condition=Q(slug__regex=SLUG_PATTERN), name="nodepool_slug_format"
            ),
            models.CheckConstraint(
                condition=Q(min_nodes__lte=F("max_nodes")),
                name="nodepool_min_nodes_lte_max",
                violation_error_message="Minimum nodes cannot be more than maximum nodes.",
            ),
            models.CheckConstraint(condition=Q(cpu_cores__gt=0), name="nodepool_cpu_positive"),
            models.CheckConstraint(
                condition=Q(memory_bytes__gt=0), name="nodepool_memory_positive"
            ),
            models.CheckConstraint(
                condition=Q(price_per_hour__gte=0), name="nodepool_price_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(runtime=Runtime.SWARM) | ~Q(manager_url=""),
                name="nodepool_swarm_has_manager",
                violation_error_message="A swarm nodepool needs its manager's engine URL.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster.slug}/{self.slug}"

    def get_absolute_url(self) -> str:
        return reverse("clusters:nodepool", args=[self.cluster.slug, self.slug])

    @property
    def is_swarm(self) -> bool:
        return self.runtime == Runtime.SWARM

    @property
    def memory_display(self) -> str:
        return format_memory(self.memory_bytes)


class NodeStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    READY = "ready", "Ready"
    UNREACHABLE = "unreachable", "Unreachable"


class NodeQuerySet(models.QuerySet):
    def with_usage(self) -> NodeQuerySet:
        """Annotate used_cpu / used_memory / used_accelerators: what the node's live
        replicas ask for.

        A replica asks for its version's request, or the configured default when the
        version's config names none.
        """
        from django.conf import settings
        from django.db.models import Case, DecimalField, Sum, Value, When
        from django.db.models.functions import Coalesce

        from orchestration.quantities import parse_memory

        live = Q(replicas__state__in=["pending", "starting", "ready", "draining"])
        default_cpu = Decimal(str(settings.REPLICA_DEFAULT_CPU))
        default_mem = parse_memory(settings.REPLICA_DEFAULT_MEMORY)
        return self.annotate(
            used_cpu=Coalesce(
                Sum(
                    Case(
                        When(
                            live,
                            then=Coalesce(
                                "replicas__model_version__cpu_request", Value(default_cpu)
                            ),
                        ),
                        default=Value(Decimal(0)),
                        output_field=DecimalField(max_digits=10, decimal_places=3),
                    )
                ),
                Value(Decimal(0)),
                output_field=DecimalField(max_digits=10, decimal_places=3),
            ),
            # Devices held: live replicas keep theirs from placement until they stop.
            used_accelerators=Coalesce(
                Sum(
                    Case(
                        When(live, then="replicas__model_version__num_accelerators"),
                        default=Value(0),
                        output_field=models.IntegerField(),
                    )
                ),
                Value(0),
                output_field=models.IntegerField(),
            ),
            used_memory=Coalesce(
                Sum(
                    Case(
                        When(
                            live,
                            then=Coalesce(
                                "replicas__model_version__memory_request_bytes", Value(default_mem)
                            ),
                        ),
                        default=Value(0),
                        output_field=models.BigIntegerField(),
                    )
                ),
                Value(0),
                output_field=models.BigIntegerField(),
            ),
        )


class Node(models.Model):
    """One Docker engine that runs replicas of the nodepool's deployments."""

    nodepool = models.ForeignKey(Nodepool, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(max_length=64, validators=[slug_validator])
    engine_url = models.CharField(
        "Docker engine URL",
        max_length=255,
        help_text="unix:///var/run/docker.sock or tcp://host:2376",
    )
    address = models.CharField(
        max_length=255,
        default="127.0.0.1",
        help_text="Host or IP at which replicas' published ports on this node are reached.",
    )
    cpu_capacity = models.DecimalField(
        "CPU capacity", max_digits=8, decimal_places=3, validators=[MinValueValidator(0)]
    )
    memory_capacity_bytes = models.BigIntegerField(
        "memory capacity (bytes)", validators=[MinValueValidator(0)]
    )
    accelerators = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(MAX_ACCELERATORS)]
    )
    # Empty: the nodepool's type.
    accelerator_type = models.CharField(max_length=64, blank=True)
    # The device ids the engine reported (CDI devices); empty when it reported none, and
    # the node's devices are then "0".."accelerators-1" (see `device_ids`).
    accelerator_ids = models.JSONField(default=list, blank=True)
    # "nvidia" when the engine has the NVIDIA runtime or NVIDIA CDI devices.
    accelerator_driver = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=NodeStatus.choices, default=NodeStatus.UNKNOWN)
    status_message = models.CharField(max_length=500, blank=True)
    # A swarm nodepool's nodes mirror the manager's: its node id, and whether it takes
    # tasks (active, pause, drain). Empty on a docker nodepool.
    swarm_node_id = models.CharField(max_length=64, blank=True)
    availability = models.CharField(max_length=16, blank=True)
    engine_version = models.CharField(max_length=64, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["nodepool", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["nodepool", "name"],
                name="node_name_unique_per_pool",
                violation_error_message="This nodepool already has a node with this name.",
            ),
            models.CheckConstraint(condition=Q(cpu_capacity__gte=0), name="node_cpu_not_negative"),
            models.CheckConstraint(
                condition=Q(memory_capacity_bytes__gte=0), name="node_memory_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.nodepool}/{self.name}"

    @property
    def memory_display(self) -> str:
        return format_memory(self.memory_capacity_bytes)

    @property
    def engine_on_this_host(self) -> bool:
        """A unix socket (or Windows pipe) engine runs on the host that talks to it."""
        return self.engine_url.startswith(("unix://", "npipe://"))

    @property
    def device_ids(self) -> list[str]:
        """The node's accelerator devices, as Docker's device requests name them."""
        from orchestration.nodepools.accelerators import node_device_ids

        return node_device_ids(self.accelerators, self.accelerator_ids)

    @property
    def effective_accelerator_type(self) -> str:
        return self.accelerator_type or self.nodepool.accelerator_type

    @property
    def free_cpu(self) -> Decimal:
        """Needs with_usage()."""
        return self.cpu_capacity - self.used_cpu

    @property
    def free_memory(self) -> int:
        """Needs with_usage()."""
        return self.memory_capacity_bytes - self.used_memory
