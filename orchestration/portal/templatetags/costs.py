"""Money on pages: `{{ amount|usd }}` reads "4.20 USD" (the API keeps 4 places)."""

from __future__ import annotations

from decimal import Decimal

from django import template

from orchestration.deployments.costs import format_money, idle_line, money

register = template.Library()


@register.filter
def usd(amount: Decimal | float | None) -> str:
    return format_money(money(amount))


@register.filter
def idle_month(cost) -> str:
    """The month's idle line of a `Cost`."""
    return idle_line(cost, "month")
