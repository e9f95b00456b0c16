"""Account pages: access tokens, organizations (members, activity), the space switcher."""

from django.urls import path

from orchestration.accounts import org_views, views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="revoke_token"),
    path("space/", org_views.switch_space, name="switch_space"),
    path("organizations/", org_views.organization_list, name="organizations"),
    path("organizations/<slug:org_slug>/members/", org_views.members, name="members"),
    path(
        "organizations/<slug:org_slug>/members/<str:username>/role/",
        org_views.member_role,
        name="member_role",
    ),
    path(
        "organizations/<slug:org_slug>/members/<str:username>/remove/",
        org_views.member_remove,
        name="member_remove",
    ),
    path(
        "organizations/<slug:org_slug>/settings/",
        org_views.organization_settings,
        name="organization_settings",
    ),
    path("organizations/<slug:org_slug>/activity/", org_views.activity, name="activity"),
]
