"""Links between portal pages that several apps render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse


def deploy_url(**params: str) -> str:
    """The deploy form with some choices made (cluster, nodepool, model)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return reverse("deployments:create") + (f"?{query}" if query else "")
