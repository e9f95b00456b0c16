"""Organization pages: the list (and creating one), members with roles, settings, the
activity log, and the header's space switcher."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from orchestration.accounts import org_actions
from orchestration.accounts.access import Perm, Space, space_named, spaces_for
from orchestration.accounts.forms import (
    MemberForm,
    OrganizationForm,
    OrganizationSettingsForm,
    RoleForm,
)
from orchestration.accounts.models import Membership, Role
from orchestration.accounts.spaces import choose_space
from orchestration.errors import ActionError
from orchestration.web.forms import add_action_errors
from orchestration.web.pagination import page_of


def _org_space(request: HttpRequest, slug: str) -> Space:
    """The user's space in this organization; an outsider gets 404, as for any object."""
    space = space_named(request.user, slug)
    if space is None or space.is_personal:
        raise Http404("No such organization")
    return space


@require_POST
def switch_space(request: HttpRequest) -> HttpResponse:
    space = space_named(request.user, request.POST.get("space", ""))
    if space is None:
        raise Http404("No such organization")
    choose_space(request, space)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = ""
    # Object pages belong to the space left behind: land on the list of that section.
    return redirect(target or "home")


@require_http_methods(["GET", "POST"])
def organization_list(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            space = org_actions.create_organization(request.user, **form.cleaned_data)
        except ActionError as exc:
            add_action_errors(form, exc)
        else:
            choose_space(request, space)
            messages.success(request, f"Organization {space.slug} created: you are its owner.")
            return redirect("accounts:members", space.slug)
    organizations = [space for space in spaces_for(request.user) if not space.is_personal]
    return render(
        request,
        "accounts/organizations.html",
        {"section": "organizations", "organizations": organizations, "form": form},
    )


def _members_page(request, space, *, member_form=None, settings_form=None, status=200):
    organization = space.organization
    memberships = Membership.objects.filter(organization=organization).select_related("user")
    can_manage = space.can(Perm.MEMBERS)
    if can_manage and member_form is None:
        member_form = MemberForm()
    if can_manage and settings_form is None:
        settings_form = OrganizationSettingsForm(
            initial={
                "name": organization.name,
                "viewers_can_predict": organization.viewers_can_predict,
            }
        )
    return render(
        request,
        "accounts/members.html",
        {
            "section": "organizations",
            "org_space": space,
            "organization": organization,
            "memberships": memberships,
            "can_manage": can_manage,
            "roles": Role.choices,
            "member_form": member_form if can_manage else None,
            "settings_form": settings_form if can_manage else None,
            "org_keys": (
                organization.tokens.active().select_related("user")
                if space.can(Perm.KEYS)
                else None
            ),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, org_slug: str) -> HttpResponse:
    space = _org_space(request, org_slug)
    if request.method == "GET":
        return _members_page(request, space)
    space.require(Perm.MEMBERS)
    form = MemberForm(request.POST)
    if form.is_valid():
        try:
            membership = org_actions.add_member(space, **form.cleaned_data)
        except ActionError as exc:
            add_action_errors(form, exc, {"user": "who"})
        else:
            messages.success(
                request, f"{membership.user.username} joined as {membership.get_role_display()}."
            )
            return redirect("accounts:members", space.slug)
    return _members_page(request, space, member_form=form, status=400)


@require_POST
def member_role(request: HttpRequest, org_slug: str, username: str) -> HttpResponse:
    space = _org_space(request, org_slug)
    space.require(Perm.MEMBERS)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick one of the roles.")
        return redirect("accounts:members", space.slug)
    try:
        org_actions.change_role(space, username=username, role=form.cleaned_data["role"])
    except ActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{username} is now {form.cleaned_data['role']}.")
    return redirect("accounts:members", space.slug)


@require_POST
def member_remove(request: HttpRequest, org_slug: str, username: str) -> HttpResponse:
    space = _org_space(request, org_slug)
    leaving = username == request.user.username
    if not leaving:
        space.require(Perm.MEMBERS)
    try:
        revoked = org_actions.remove_member(space, username=username)
    except ActionError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:members", space.slug)
    keys = f" {revoked} of their keys for it were revoked." if revoked else ""
    if leaving:
        messages.success(request, f"You left {space.slug}.{keys}")
        return redirect("accounts:organizations")
    messages.success(request, f"{username} was removed.{keys}")
    return redirect("accounts:members", space.slug)


@require_POST
def organization_settings(request: HttpRequest, org_slug: str) -> HttpResponse:
    space = _org_space(request, org_slug)
    space.require(Perm.MEMBERS)
    form = OrganizationSettingsForm(request.POST)
    if form.is_valid():
        try:
            org_actions.update_organization(space, **form.cleaned_data)
        except ActionError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("accounts:members", space.slug)
    return _members_page(request, space, settings_form=form, status=400)


@require_http_methods(["GET"])
def activity(request: HttpRequest, org_slug: str) -> HttpResponse:
    space = _org_space(request, org_slug)
    events = space.organization.events.all()
    return render(
        request,
        "accounts/activity.html",
        {"section": "organizations", "org_space": space, "page": page_of(request, events)},
    )
