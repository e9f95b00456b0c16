"""Personal access tokens: list, create (the token is shown once), revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from orchestration.accounts import actions as token_actions
from orchestration.accounts.forms import TokenForm
from orchestration.accounts.models import AccessToken

NEW_TOKEN_SESSION_KEY = "accounts:new_token"  # noqa: S105 - a session key name


@never_cache
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens and a form to create one; a new token's text is shown once."""
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            token, plain = token_actions.issue_token(request.user, form.cleaned_data["name"])
            # Shown on the next page view only (post/redirect/get), then gone for good.
            request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "plain": plain}
            return redirect("accounts:tokens")
    else:
        form = TokenForm()
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    user_tokens = AccessToken.objects.filter(user=request.user).order_by(
        "revoked_at", "-created_at"
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


@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(AccessToken, pk=pk, user=request.user)
    if token_actions.revoke_token(token):
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("accounts:tokens")
