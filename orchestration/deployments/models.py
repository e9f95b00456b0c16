"""Deployments (a model version on a nodepool, with autoscaling), replicas and history."""

from __future__ import annotations

from contextlib import nullcontext

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import connections, models
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone

from orchestration.catalog.models import Model, ModelVersion
from orchestration.clusters.models import SLUG_PATTERN, slug_validator
from orchestration.constants import AUTOSCALE_DEFAULTS
from orchestration.db import OwnedQuerySet
from orchestration.deployments.expressions import BucketEnd
from orchestration.nodepools.models import Node, Nodepool


class DeploymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DEPLOYING = "deploying", "Deploying"
    RUNNING = "running", "Running"
    SCALED_TO_ZERO = "idle", "Scaled to zero"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"


class DeploymentQuerySet(OwnedQuerySet):
    def with_ready_count(self) -> DeploymentQuerySet:
        """Each deployment with ``ready_count``: how many of its replicas are ready."""
        return self.annotate(
            ready_count=Count("replicas", filter=Q(replicas__state=ReplicaState.READY))
        )

    def active(self) -> DeploymentQuerySet:
        return self.exclude(status=DeploymentStatus.DELETING)

    def with_costs(self, windows=None) -> tuple[list[Deployment], object]:
        """The deployments as a list, each with ``.cost``, and their summed `costs.Cost`.

        Here so that pages of lower layers (the nodepool page) need not import costs.
        """
        from orchestration.deployments.costs import with_costs  # costs imports models

        return with_costs(self, windows)

    def listed_for(self, user) -> DeploymentQuerySet:
        """The user's deployments as pages list them, with their ready replica count.

        On the shared nodepool other users' deployments run too; they stay private.
        """
        return (
            self.filter(owner=user)
            .select_related("model", "model_version")
            .with_ready_count()
            .order_by("slug")
        )


class Deployment(models.Model):
    """A model version placed on a nodepool, scaled between its min and max replicas."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deployments"
    )
    slug = models.CharField("Deployment ID", max_length=64, validators=[slug_validator])
    description = models.CharField(max_length=300, blank=True)
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="deployments")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="deployments"
    )
    nodepool = models.ForeignKey(Nodepool, on_delete=models.PROTECT, related_name="deployments")

    min_replicas = models.PositiveIntegerField(default=AUTOSCALE_DEFAULTS["min_replicas"])
    max_replicas = models.PositiveIntegerField(default=AUTOSCALE_DEFAULTS["max_replicas"])
    scale_down_delay_seconds = models.PositiveIntegerField(
        default=AUTOSCALE_DEFAULTS["scale_down_delay_seconds"]
    )
    traffic_history_seconds = models.PositiveIntegerField(
        default=AUTOSCALE_DEFAULTS["traffic_history_seconds"]
    )
    scale_up_delay_seconds = models.PositiveIntegerField(
        default=AUTOSCALE_DEFAULTS["scale_up_delay_seconds"]
    )
    scale_to_zero_delay_seconds = models.PositiveIntegerField(
        default=AUTOSCALE_DEFAULTS["scale_to_zero_delay_seconds"]
    )
    target_concurrency = models.PositiveIntegerField(
        default=AUTOSCALE_DEFAULTS["target_concurrency"], validators=[MinValueValidator(1)]
    )

    desired_replicas = models.PositiveIntegerField(
        default=1, help_text="Replica count reconcile works towards; set by the autoscaler."
    )
    status = models.CharField(
        max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING
    )
    status_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "slug"],
                name="deployment_slug_unique_per_owner",
                violation_error_message="You already have a deployment with this ID.",
            ),
            # A deployment being deleted no longer counts: the model can be deployed on the
            # nodepool again at once, however long its containers take to go.
            models.UniqueConstraint(
                fields=["model", "nodepool"],
                condition=~Q(status="deleting"),
                name="one_deployment_per_model_per_nodepool",
                violation_error_message="This model already has a deployment on this nodepool.",
            ),
            models.CheckConstraint(
                condition=Q(slug__regex=SLUG_PATTERN), name="deployment_slug_format"
            ),
            models.CheckConstraint(
                condition=Q(min_replicas__lte=F("max_replicas")),
                name="deployment_min_lte_max",
                violation_error_message="Minimum replicas cannot be more than maximum replicas.",
            ),
            models.CheckConstraint(
                condition=Q(max_replicas__gte=1),
                name="deployment_max_gte_1",
                violation_error_message="Maximum replicas must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(scale_down_delay_seconds__gte=0)
                & Q(scale_up_delay_seconds__gte=0)
                & Q(traffic_history_seconds__gte=0)
                & Q(scale_to_zero_delay_seconds__gte=0),
                name="deployment_delays_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(scale_to_zero_delay_seconds__gte=F("scale_down_delay_seconds")),
                name="deployment_zero_delay_gte_down_delay",
                violation_error_message=(
                    "Scale to zero delay must be at least the scale down delay."
                ),
            ),
            models.CheckConstraint(
                condition=Q(target_concurrency__gte=1), name="deployment_target_concurrency_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("deployments:detail", args=[self.slug])

    def autoscale_config(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in AUTOSCALE_DEFAULTS}

    def effective_desired_replicas(self) -> int:
        """The desired count kept between the minimum and maximum replicas."""
        return max(self.min_replicas, min(self.desired_replicas, self.max_replicas))

    def record(self, kind: str, message: str, *, actor=None, source: str = "") -> DeploymentEvent:
        return DeploymentEvent.objects.create(
            deployment=self, kind=kind, message=message, actor=actor, source=source
        )


def constraint_message(name: str) -> str:
    constraint = next(c for c in Deployment._meta.constraints if c.name == name)
    return str(constraint.get_violation_error_message())


def autoscale_errors(config: dict[str, int]) -> list[dict]:
    """The cross-field rules of SPEC.md's autoscale settings: one item per rule broken.

    ``field`` is the rule's constraint name (each entry point says which of its fields
    shows it), ``message`` the constraint's own text (the portal form's), ``detail`` the
    same rule with the values sent (the API's).
    """
    errors = []
    low, high = config["min_replicas"], config["max_replicas"]
    down, zero = config["scale_down_delay_seconds"], config["scale_to_zero_delay_seconds"]
    target = config["target_concurrency"]
    # A rule whose inputs are missing (refused by their own field checks) says nothing.
    if high is not None and high < 1:
        name = "deployment_max_gte_1"
        errors.append({"field": name, "message": constraint_message(name)})
        errors[-1]["detail"] = errors[-1]["message"]
    if low is not None and high is not None and low > high:
        name = "deployment_min_lte_max"
        errors.append(
            {
                "field": name,
                "message": constraint_message(name),
                "detail": f"Maximum replicas ({high}) must be at least minimum replicas ({low}).",
            }
        )
    if zero is not None and down is not None and zero < down:
        name = "deployment_zero_delay_gte_down_delay"
        errors.append(
            {
                "field": name,
                "message": constraint_message(name),
                "detail": f"Scale to zero delay ({zero}s) must be at least the scale down "
                f"delay ({down}s).",
            }
        )
    if target is not None and target < 1:
        message = "Target concurrency must be at least 1."
        errors.append(
            {"field": "deployment_target_concurrency_gte_1", "message": message, "detail": message}
        )
    return errors


class ReplicaState(models.TextChoices):
    PENDING = "pending", "Pending"
    STARTING = "starting", "Starting"
    READY = "ready", "Ready"
    DRAINING = "draining", "Draining"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


LIVE_STATES = (ReplicaState.PENDING, ReplicaState.STARTING, ReplicaState.READY)


class ReplicaQuerySet(models.QuerySet):
    def live(self) -> ReplicaQuerySet:
        """Replicas that count towards the deployment's replica count."""
        return self.filter(state__in=LIVE_STATES)

    def ready(self) -> ReplicaQuerySet:
        return self.filter(state=ReplicaState.READY)


class Replica(models.Model):
    """One container of the deployment's model version on a node of its nodepool."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="replicas")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="replicas"
    )
    node = models.ForeignKey(
        Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="replicas"
    )
    container_id = models.CharField(max_length=80, blank=True)
    # On a swarm nodepool a replica is a Swarm task, which Swarm starts and replaces.
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    address = models.CharField(max_length=255, blank=True, help_text="host:port of the runner")
    on_bridge = models.BooleanField(
        default=False,
        help_text="address is the container's own on its engine's bridge, on this host",
    )
    state = models.CharField(
        max_length=16, choices=ReplicaState.choices, default=ReplicaState.PENDING
    )
    # The node's accelerator devices placement gave it; its container gets exactly these.
    accelerator_ids = models.JSONField(default=list, blank=True)
    pending_reason = models.CharField(max_length=500, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    # Which worker is starting it, since when: a worker that dies mid-start leaves the
    # replica `starting`, and its next life (same Celery node name) gives it back.
    claimed_by = models.CharField(max_length=255, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = ReplicaQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["deployment", "state"])]

    def __str__(self) -> str:
        return f"{self.deployment.slug}#{self.pk}"

    @property
    def name(self) -> str:
        return f"orch-{self.deployment.slug}-{self.pk}"

    def age(self):
        return timezone.now() - (self.ready_at or self.started_at or self.created_at)


class DeploymentEvent(models.Model):
    """What happened to a deployment, when, and by whom (a user or a task)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=32)
    message = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=64, blank=True, help_text="Task that acted, if no user.")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}: {self.message}"


class TrafficSample(models.Model):
    """Traffic of one deployment over a short interval, flushed from in-process counters."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="traffic")
    at = models.DateTimeField(db_index=True)
    interval_seconds = models.FloatField()
    requests = models.PositiveIntegerField()
    in_flight = models.FloatField(help_text="Average in-flight requests over the interval.")
    # Inputs the model answered, and how many model calls they made up (with dynamic
    # batching a request is a share of a call): their ratio is the average batch size.
    inputs = models.PositiveIntegerField(default=0)
    batches = models.FloatField(default=0.0)
    # `buckets.bucket_end(at)`, kept by the database: the autoscale tick groups hundreds
    # of thousands of samples by it, and computing it per row there cost most of the tick.
    bucket = models.GeneratedField(
        expression=BucketEnd("at"), output_field=models.FloatField(), db_persist=True
    )

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["deployment", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.requests} req, {self.in_flight:.1f} in flight"


class ScalingDecisionQuerySet(models.QuerySet):
    def record_many(self, at, rows) -> int:
        """Insert decisions taken at one moment: (deployment id, wanted, applied, reason).

        Plain tuples, and on PostgreSQL one COPY: `bulk_create` builds and prepares a model
        instance per row, and at 10,000 deployments its INSERTs (or an executemany) cost
        the autoscale tick 0.4-0.5 s where COPY takes 0.07 s.
        """
        connection = connections[self.db]
        meta = self.model._meta
        limit = meta.get_field("reason").max_length
        values = [
            (deployment_id, at, wanted, applied, 0, reason[:limit])
            for deployment_id, wanted, applied, reason in rows
        ]
        if not values:
            return 0
        qn = connection.ops.quote_name
        names = ("deployment", "at", "wanted", "applied", "ready", "reason")
        columns = ", ".join(qn(meta.get_field(name).column) for name in names)
        table = qn(meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                sql = f"COPY {table} ({columns}) FROM STDIN"
                # A debug cursor (tests, the benchmark's query count) logs it as a query.
                logged = getattr(cursor, "debug_sql", None)
                with logged(sql) if logged else nullcontext(), cursor.cursor.copy(sql) as copy:
                    for row in values:
                        copy.write_row(row)
            else:
                stamp = connection.ops.adapt_datetimefield_value(at)
                marks = ", ".join(["%s"] * len(names))
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 - names from _meta
                    [(row[0], stamp, *row[2:]) for row in values],
                )
        return len(values)


class ScalingDecision(models.Model):
    """One autoscaler evaluation: what it wanted, what it applied, and why."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField(db_index=True)
    wanted = models.PositiveIntegerField()
    applied = models.PositiveIntegerField()
    ready = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=300)

    objects = ScalingDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["deployment", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} wanted {self.wanted}, applied {self.applied}: {self.reason}"


class OrphanedContainers(models.Model):
    """Containers of a deleted deployment left on a node that could not be reached.

    Deleting a deployment does not wait for its unreachable nodes (they may never come
    back): the row goes, and this note says which containers to remove from the node
    when its engine answers again (the node probe does it). Containers are found by the
    deployment's labels, so ones started after the note was written go too.
    """

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="orphaned_containers")
    deployment_key = models.PositiveBigIntegerField(
        help_text="The deleted deployment's id: the value of its containers' label."
    )
    deployment_slug = models.CharField(max_length=64)
    container_ids = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "deployment_key"], name="orphaned_containers_once_per_node"
            )
        ]
        verbose_name_plural = "orphaned containers"

    def __str__(self) -> str:
        return f"{self.deployment_slug} on {self.node.name}"


class MinReplicaHold(models.Model):
    """From ``at`` until the deployment's next row, ``replicas`` of its replicas were kept
    only by its minimum: the traffic wanted fewer (`policy.kept_for_min`).

    The autoscale tick writes a row when that number changes. Decisions and traffic are
    pruned after hours, so this is what prices idle time at min replicas over a month.
    """

    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="min_replica_holds"
    )
    at = models.DateTimeField()
    replicas = models.PositiveIntegerField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["deployment", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.replicas} kept for min"
