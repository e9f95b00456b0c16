from django.contrib import admin

from orchestration.catalog.models import Model, ModelVersion


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    fields = ["number", "version_id", "build_status", "image", "created_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["slug", "owner", "model_type_id", "version_count", "created_at"]
    list_filter = ["model_type_id", "created_at"]
    search_fields = ["slug", "description", "owner__username"]
    list_select_related = ["owner"]
    inlines = [ModelVersionInline]

    @admin.display(description="versions")
    def version_count(self, obj: Model) -> int:
        return obj.versions.count()


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "model",
        "number",
        "build_status",
        "image",
        "cpu_request",
        "memory_request_bytes",
        "created_at",
        "built_at",
    ]
    list_filter = ["build_status", "created_at"]
    search_fields = ["version_id", "model__slug", "image", "content_hash"]
    list_select_related = ["model"]
    readonly_fields = [
        "version_id",
        "number",
        "content_hash",
        "config",
        "build_log",
        "created_at",
        "build_started_at",
        "built_at",
    ]
