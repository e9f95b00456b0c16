from django.contrib import admin

from orchestration.deployments.models import (
    Deployment,
    DeploymentEvent,
    Replica,
    ScalingDecision,
)


class ReplicaInline(admin.TabularInline):
    model = Replica
    extra = 0
    fields = [
        "state",
        "node",
        "address",
        "container_id",
        "model_version",
        "started_at",
        "last_error",
    ]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class EventInline(admin.TabularInline):
    model = DeploymentEvent
    extra = 0
    fields = ["at", "kind", "message", "actor", "source"]
    readonly_fields = fields
    can_delete = False
    max_num = 0
    ordering = ["-at"]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "owner",
        "model",
        "model_version",
        "nodepool",
        "status",
        "min_replicas",
        "max_replicas",
        "desired_replicas",
        "updated_at",
    ]
    list_filter = ["status", "nodepool__cluster", "nodepool"]
    search_fields = ["slug", "description", "model__slug", "owner__username"]
    list_select_related = ["owner", "model", "model_version", "nodepool__cluster"]
    readonly_fields = ["status", "status_message", "created_at", "updated_at"]
    raw_id_fields = ["model_version"]
    inlines = [ReplicaInline, EventInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "slug",
                    "description",
                    "owner",
                    "model",
                    "model_version",
                    "nodepool",
                    "status",
                    "status_message",
                ]
            },
        ),
        (
            "Autoscaling",
            {
                "fields": [
                    "min_replicas",
                    "max_replicas",
                    "desired_replicas",
                    "target_concurrency",
                    "scale_up_delay_seconds",
                    "scale_down_delay_seconds",
                    "traffic_history_seconds",
                    "scale_to_zero_delay_seconds",
                ]
            },
        ),
        ("Timestamps", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(Replica)
class ReplicaAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "deployment",
        "state",
        "node",
        "address",
        "attempts",
        "created_at",
        "ready_at",
    ]
    list_filter = ["state", "node"]
    search_fields = ["deployment__slug", "container_id", "address"]
    list_select_related = ["deployment", "node__nodepool__cluster"]
    readonly_fields = ["created_at", "started_at", "ready_at", "stopped_at"]


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(admin.ModelAdmin):
    list_display = ["at", "deployment", "kind", "message", "actor", "source"]
    list_filter = ["kind", "source"]
    search_fields = ["deployment__slug", "message"]
    list_select_related = ["deployment", "actor"]
    date_hierarchy = "at"


@admin.register(ScalingDecision)
class ScalingDecisionAdmin(admin.ModelAdmin):
    list_display = ["at", "deployment", "wanted", "applied", "ready", "reason"]
    list_filter = ["deployment"]
    list_select_related = ["deployment"]
    date_hierarchy = "at"
