"""The Grafana dashboard and docs/metrics.md name exactly what /metrics exports."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT

pytestmark = pytest.mark.django_db
NAME = re.compile(r"\borchestration_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def _exported(client) -> dict[str, str]:
    """{family name: type} of a scrape (families with no sample yet included)."""
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    return {
        family.name: family.type
        for family in text_string_to_metric_families(text)
        if family.name.startswith("orchestration_")
    }


def _sample_names(families: dict[str, str]) -> set[str]:
    return {name + suffix for name, kind in families.items() for suffix in SUFFIXES[kind]}


def test_every_dashboard_query_names_only_exported_series(client):
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = {name for expr in exprs + variables for name in NAME.findall(expr)}
    assert used, "the dashboard queries nothing"
    unknown = used - _sample_names(_exported(client))
    assert not unknown, f"the dashboard queries series /metrics does not export: {unknown}"


def test_every_exported_series_is_documented_and_used(client):
    from orchestration.metrics import instruments

    # Series with samples too (a counter with a value once exported a `_created` twin).
    instruments.RATE_LIMITED.labels("api").inc(0)
    instruments.AUTOSCALER_DECISIONS.labels("hold").inc(0)
    families = _exported(client)
    docs = (ROOT / "docs" / "metrics.md").read_text()
    documented = set(NAME.findall(docs))
    missing = {
        name + SUFFIXES[kind][0]
        for name, kind in families.items()
        if name + SUFFIXES[kind][0] not in documented and name not in documented
    }
    assert not missing, f"exported but not in docs/metrics.md: {missing}"
    assert len(families) >= 20
    dashboard = (ROOT / "docs" / "grafana-dashboard.json").read_text()
    unused = {name for name in families if name not in dashboard}
    assert not unused, f"exported but on no dashboard panel: {unused}"
