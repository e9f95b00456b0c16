"""Access tokens: list, create (personal or scoped to an organization; shown once), revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from orchestration.accounts import actions as token_actions
from orchestration.accounts.access import Perm, space_by_account, spaces_for
from orchestration.accounts.forms import TokenScopeForm
from orchestration.accounts.models import AccessToken
from orchestration.errors import ActionError
from orchestration.web.forms import add_action_errors

NEW_TOKEN_SESSION_KEY = "accounts:new_token"  # noqa: S105 - a session key name


@never_cache
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens and a form to create one; a new token's text is shown once."""
    organizations = [s.organization for s in spaces_for(request.user) if not s.is_personal]
    if request.method == "POST":
        form = TokenScopeForm(request.POST, organizations=organizations)
        if form.is_valid():
            try:
                token, plain = token_actions.issue_token(
                    request.user,
                    form.cleaned_data["name"],
                    organization=form.cleaned_data["organization"],
                )
            except ActionError as exc:
                add_action_errors(form, exc)
            else:
                # Shown on the next page view only (post/redirect/get), then gone for good.
                request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "plain": plain}
                return redirect("accounts:tokens")
    else:
        initial = {"organization": "" if request.space.is_personal else request.space.slug}
        form = TokenScopeForm(organizations=organizations, initial=initial)
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    user_tokens = (
        AccessToken.objects.filter(user=request.user)
        .select_related("organization__account")
        .order_by("revoked_at", "-created_at")
    )
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "tokens": user_tokens,
            "new_token": new_token,
            "api_url": request.build_absolute_uri("/"),
        },
    )


def _revocable_token(request: HttpRequest, pk: int) -> AccessToken:
    """The user's own token, or a key of an organization whose keys they manage."""
    token = AccessToken.objects.select_related("organization__account").filter(pk=pk).first()
    if token is None:
        raise Http404("No such token")
    if token.user_id == request.user.pk:
        return token
    space = space_by_account(request.user, token.organization_id) if token.organization else None
    if space is None or space.is_personal or not space.can(Perm.KEYS):
        raise Http404("No such token")
    return token


@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = _revocable_token(request, pk)
    if token_actions.revoke_token(token, actor=request.user):
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    if token.user_id != request.user.pk:
        return redirect("accounts:members", token.organization.slug)
    return redirect("accounts:tokens")
