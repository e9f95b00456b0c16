from django.contrib import admin

from orchestration.clusters.admin import ClusterAdmin
from orchestration.nodepools.models import Node, Nodepool


class NodeInline(admin.TabularInline):
    model = Node
    extra = 0
    fields = [
        "name",
        "engine_url",
        "address",
        "cpu_capacity",
        "memory_capacity_bytes",
        "accelerators",
        "status",
        "last_seen",
    ]
    readonly_fields = ["status", "last_seen"]


@admin.register(Nodepool)
class NodepoolAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "cluster",
        "instance_type",
        "cpu_cores",
        "memory_display",
        "accelerators",
        "price_per_hour",
        "min_nodes",
        "max_nodes",
    ]
    list_filter = ["cluster__cloud_provider", "instance_type", "cluster"]
    search_fields = ["slug", "description", "cluster__slug", "instance_type"]
    list_select_related = ["cluster"]
    autocomplete_fields = ["cluster"]
    inlines = [NodeInline]


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "nodepool",
        "engine_url",
        "address",
        "status",
        "cpu_capacity",
        "memory_display",
        "engine_version",
        "last_seen",
    ]
    list_filter = ["status", "nodepool__cluster"]
    search_fields = ["name", "engine_url", "address", "nodepool__slug"]
    list_select_related = ["nodepool__cluster"]
    readonly_fields = ["status", "status_message", "engine_version", "last_seen", "created_at"]


class NodepoolInline(admin.TabularInline):
    model = Nodepool
    extra = 0
    fields = [
        "slug",
        "instance_type",
        "cpu_cores",
        "memory_bytes",
        "accelerators",
        "price_per_hour",
        "min_nodes",
        "max_nodes",
    ]
    show_change_link = True


# The cluster's page lists its nodepools: added from here, so clusters imports no nodepools.
ClusterAdmin.inlines = [*ClusterAdmin.inlines, NodepoolInline]
