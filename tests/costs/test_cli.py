"""`orchestrate deployment cost` and `costs` against a live server."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from orchestration import cli
from tests.costs.conftest import hours, make_replica


@pytest.fixture
def run(live_server, owner_key, monkeypatch, capsys):
    monkeypatch.setenv("ORCHESTRATE_URL", live_server.url)
    monkeypatch.setenv("ORCHESTRATE_KEY", owner_key)

    def run(*argv: str):
        capsys.readouterr()
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_deployment_cost_and_summary(run, priced):
    now = timezone.now()
    make_replica(priced["deployment"], priced["node"], started=now - hours(2), stopped=now)
    code, out, err = run("deployment", "cost", "sent")
    assert code == 0, err
    assert "last 24 hours  1.00 USD" in out
    assert "0.00 USD of" in out and "idle time at min replicas" in out
    code, out, err = run("deployment", "cost", "sent", "--json")
    assert json.loads(out)["cost"]["total"] == "1.0000"
    code, out, err = run("deployment", "costs")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["DEPLOYMENT", "NODEPOOL", "24H", "MONTH", "TOTAL"]
    assert lines[1].split()[:2] == ["sent", "east/cpu"] and "1.00" in lines[1]
    code, out, err = run("deployment", "cost", "nope")
    assert code == 1 and "No deployment with id 'nope'" in err
