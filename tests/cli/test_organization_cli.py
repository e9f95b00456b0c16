"""`orchestrate org ...` against a live server, with the team's keys."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_org_commands(orchestrate, team, other_user):
    key = team.key("owner")
    code, out, err = orchestrate("org", "list", key=key)
    assert code == 0 and "acme" in out and "owner" in out, err
    code, out, err = orchestrate("org", "add-member", "acme", "other", "--role", "viewer", key=key)
    assert code == 0 and "viewer" in out, err
    code, out, err = orchestrate("org", "set-role", "acme", "other", "member", key=key)
    assert code == 0 and "member" in out, err
    code, out, err = orchestrate("org", "members", "acme", key=key)
    assert code == 0 and "team-viewer" in out and "other" in out, err
    code, out, err = orchestrate("org", "remove-member", "acme", "other", key=key)
    assert code == 0, err
    code, out, err = orchestrate("org", "activity", "acme", key=key)
    assert code == 0 and "removed a member" in out and "added a member" in out, err
    code, out, err = orchestrate("whoami", key=key)
    assert "team-owner in organization acme (owner)" in out, err


def test_org_refusals_exit_1_with_the_message(orchestrate, team):
    code, out, err = orchestrate(
        "org", "add-member", "acme", "team-outsider", key=team.key("viewer")
    )
    assert code == 1 and "owners" in err
    code, out, err = orchestrate("org", "members", "acme", key=team.key("outsider"))
    assert code == 1 and "No organization with id 'acme'" in err
