"""Organizations in the browser: creating one, adding a member and changing a role on the
members page, and the header's switcher moving the member between spaces."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser.test_deploy_flow import _log_in


def test_create_an_organization_add_a_member_and_switch(page, shoot, make_model):
    User = get_user_model()  # noqa: N806
    User.objects.create_user("ann", "ann@example.com", "correct-horse-42")
    bob = User.objects.create_user("bob", "bob@example.com", "battery-staple-42")
    make_model(bob, "bobs-own")
    _log_in(page, "ann", "correct-horse-42")

    page.get_by_role("link", name="Organizations").click()
    page.get_by_label("Organization ID").fill("bob")  # a username: one namespace
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_text("This ID is taken by a user or an organization.")).to_be_visible()
    page.get_by_label("Organization ID").fill("acme")
    page.get_by_label("Name", exact=True).fill("Acme ML")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_text("Organization acme created")).to_be_visible()
    expect(page.locator("#space-switch")).to_have_value("acme")

    page.get_by_label("Username or e-mail address").fill("BOB@example.com")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("bob joined as Viewer.")).to_be_visible()
    page.get_by_label("Role of bob").select_option("member")
    page.locator("form", has=page.get_by_label("Role of bob")).get_by_role(
        "button", name="Change"
    ).click()
    expect(page.get_by_text("bob is now member.")).to_be_visible()
    shoot(page, "organization-members")

    # Bob: his own models in his space; the organization's (none yet) after switching.
    page.get_by_role("button", name="Log out").click()
    _log_in(page, "bob", "battery-staple-42")
    page.goto("/models/")
    expect(page.get_by_role("link", name="bobs-own")).to_be_visible()
    with page.expect_navigation():  # choosing a space submits the switcher
        page.select_option("#space-switch", "acme")
    expect(page.locator(".spacebar")).to_contain_text("You are member")
    page.goto("/models/")
    expect(page.get_by_role("link", name="bobs-own")).to_have_count(0)
    expect(page.get_by_role("link", name="Upload a model")).to_have_count(0)
    shoot(page, "organization-models-as-member")
    with page.expect_navigation():
        page.select_option("#space-switch", "bob")
    page.goto("/models/")
    expect(page.get_by_role("link", name="bobs-own")).to_be_visible()
