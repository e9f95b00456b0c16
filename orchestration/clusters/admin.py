from django.contrib import admin

from orchestration.clusters.models import Cluster
from orchestration.nodepools.models import Nodepool


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


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "owner",
        "cloud_provider",
        "region",
        "is_shared",
        "nodepool_count",
        "created_at",
    ]
    list_filter = ["cloud_provider", "is_shared", "created_at"]
    search_fields = ["slug", "description", "region", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["is_shared", "created_at", "updated_at"]
    inlines = [NodepoolInline]

    @admin.display(description="nodepools")
    def nodepool_count(self, obj: Cluster) -> int:
        return obj.nodepools.count()
