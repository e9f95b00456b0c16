"""`orchestrate org ...`: organizations, their members and activity."""

from __future__ import annotations

from orchestration.cli.client import EXIT_OK, Client, q
from orchestration.cli.output import Output, deleted, short_time, show

ROLES = ("owner", "admin", "member", "viewer")
ORG_COLUMNS = [("ID", "id"), ("NAME", "name"), ("ROLE", "role")]
MEMBER_COLUMNS = [
    ("USER", "username"),
    ("ROLE", "role"),
    ("SINCE", lambda r: short_time(r["since"])),
]
EVENT_COLUMNS = [
    ("WHEN", lambda r: short_time(r["at"])),
    ("WHO", "actor"),
    ("WHAT", "action"),
    ("OBJECT", "target"),
    ("DETAILS", "detail"),
]


def _members(args) -> str:
    return f"organizations/{q(args.org)}/members/"


def list_orgs(client: Client, out: Output, args) -> int:
    show(out, client.get_all("organizations/"), ORG_COLUMNS)
    return EXIT_OK


def list_members(client: Client, out: Output, args) -> int:
    show(out, client.get_all(_members(args)), MEMBER_COLUMNS)
    return EXIT_OK


def add_member(client: Client, out: Output, args) -> int:
    body = {"user": args.user, "role": args.role}
    show(out, client.post(_members(args), body), MEMBER_COLUMNS, single=True)
    return EXIT_OK


def set_role(client: Client, out: Output, args) -> int:
    member = client.patch(f"{_members(args)}{q(args.user)}/", {"role": args.role})
    show(out, member, MEMBER_COLUMNS, single=True)
    return EXIT_OK


def remove_member(client: Client, out: Output, args) -> int:
    client.delete(f"{_members(args)}{q(args.user)}/")
    deleted(out, "member", f"{args.org}/{args.user}")
    return EXIT_OK


def activity(client: Client, out: Output, args) -> int:
    show(out, client.get_all(f"organizations/{q(args.org)}/events/"), EVENT_COLUMNS)
    return EXIT_OK


def register(commands) -> None:
    group = commands.group("org", "organizations: members with roles, and their activity")
    group.action("list", list_orgs, "list your organizations and your role in each")
    for verb, func, help_text in (
        ("members", list_members, "list an organization's members"),
        ("activity", activity, "who did what in an organization, newest first"),
    ):
        group.action(verb, func, help_text).add_argument("org")
    p = group.action("add-member", add_member, "add a user by username or e-mail (owners)")
    p.add_argument("org")
    p.add_argument("user")
    p.add_argument("--role", choices=ROLES, default="member")
    p = group.action("set-role", set_role, "change a member's role (owners)")
    p.add_argument("org")
    p.add_argument("user")
    p.add_argument("role", choices=ROLES)
    p = group.action(
        "remove-member", remove_member, "remove a member (or yourself); revokes their keys for it"
    )
    p.add_argument("org")
    p.add_argument("user")
