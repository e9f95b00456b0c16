"""Pages under the Content-Security-Policy still work (the page fixture fails the test on
any violation the browser reports)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser.test_deploy_flow import _log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_keys_page_selects_the_new_token_on_click(page, shoot):
    get_user_model().objects.create_user("ada", "ada@example.com", "correct-horse-42")
    _log_in(page, "ada", "correct-horse-42")
    response = page.goto("/account/tokens/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("Token", exact=True)
    expect(token).to_be_visible()
    # The click handler moved from an inline onclick into static/js/portal.js.
    token.click()
    selected = page.evaluate(
        "() => { const i = document.getElementById('new-token-value');"
        " return i.value.substring(i.selectionStart, i.selectionEnd); }"
    )
    assert selected == token.input_value() and selected
    shoot(page, "api-keys-csp")


def test_model_overview_sdk_snippet_follows_the_dropdown_and_copies(
    page, shoot, make_model, make_cluster, make_nodepool, make_deployment
):
    ada = get_user_model().objects.create_user("ada", "ada@example.com", "correct-horse-42")
    model, version = make_model(ada, "sentiment")
    pool = make_nodepool(make_cluster(ada, "east"), "cpu")
    make_deployment(ada, model, version, pool, "sent-east")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _log_in(page, "ada", "correct-horse-42")
    page.goto("/models/sentiment/")
    code = page.locator("#sdk-code")
    expect(code).not_to_contain_text("deployment_id")
    page.get_by_label("Deployment").select_option("sent-east")
    expect(code).to_contain_text('deployment_id="sent-east"')
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == code.text_content()
    shoot(page, "model-overview-sdk")
