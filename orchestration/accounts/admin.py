from django.contrib import admin

from orchestration.accounts.models import AccessToken, Event, Membership, Organization


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "organization",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at", "created_at", "organization"]
    search_fields = ["name", "prefix", "user__username", "organization__account__username"]
    list_select_related = ["user", "organization__account"]
    readonly_fields = ["prefix", "token_hash", "created_at", "last_used_at"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "viewers_can_predict", "created_at"]
    search_fields = ["account__username", "name"]
    list_select_related = ["account"]
    readonly_fields = ["account", "created_at"]
    inlines = [MembershipInline]

    def has_add_permission(self, request) -> bool:
        # An organization comes with its account row: made by org_actions, not here.
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The organizations' event log, read-only: it records what happened."""

    list_display = ["created_at", "organization", "actor_name", "action", "target", "detail"]
    list_filter = ["action", "organization"]
    search_fields = ["actor_name", "action", "target", "detail"]
    list_select_related = ["organization__account"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
