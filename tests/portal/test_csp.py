"""Portal pages carry a Content-Security-Policy that lets only the project's own files run.

The browser tests (tests/browser) assert that no page reports a violation; these check
the header and that no template brings back what the policy would block.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestration.portal.csp import POLICY

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/compute/", "/models/", "/account/tokens/", "/login/"])
def test_portal_pages_send_the_policy(owner_client, path):
    response = owner_client.get(path)
    assert response.status_code == 200, path
    policy = response["Content-Security-Policy"]
    assert policy == POLICY
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_api_json_is_left_alone(owner_client):
    assert "Content-Security-Policy" not in owner_client.get("/api/v1/me/")


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"hx-on|js:", re.I), "htmx code in an attribute (needs eval)"),
]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_have_nothing_inline_the_policy_blocks(template):
    text = template.read_text()
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, f"{template.relative_to(ROOT)}: {found}"


def test_htmx_does_not_inject_its_indicator_styles(owner_client):
    html = owner_client.get("/").content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in html
