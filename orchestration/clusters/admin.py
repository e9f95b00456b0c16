from django.contrib import admin

from orchestration.clusters.models import Cluster


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
    inlines: list = []  # nodepools/admin.py adds its nodepools

    @admin.display(description="nodepools")
    def nodepool_count(self, obj: Cluster) -> int:
        return obj.nodepools.count()
