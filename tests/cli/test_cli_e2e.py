"""The CLI end to end against a live server, a real worker and Docker: only a key and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orchestration import docker_engine
from orchestration.accounts.models import AccessToken
from orchestration.deployments.containers import container_labels
from orchestration.deployments.models import Deployment
from tests.conftest import ROOT, requires_docker

pytestmark = [requires_docker, pytest.mark.docker, pytest.mark.celery]
ENGINE = "unix:///var/run/docker.sock"


def test_cli_deploys_a_model_and_predicts(asgi_server, owner):
    key = AccessToken.issue(owner, "cli")[1]
    env = {**os.environ, "ORCHESTRATE_URL": asgi_server, "ORCHESTRATE_KEY": key}

    def cli(*args, expect=0, timeout=300):
        result = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result

    def cli_json(*args, **kw):
        return json.loads(cli("--json", *args, **kw).stdout)

    assert cli_json("whoami")["username"] == "owner"
    cli("cluster", "create", "edge", "--cloud-provider", "on-prem", "--region", "lab")
    cli(
        "nodepool",
        "create",
        "edge",
        "cpu",
        "--cpu",
        "4",
        "--memory",
        "4Gi",
        "--price-per-hour",
        "0.10",
    )
    cli("node", "add", "edge", "cpu", "local", "--engine-url", ENGINE, "--address", "127.0.0.1")
    nodes = cli_json("node", "list", "edge", "cpu")
    assert [n["name"] for n in nodes] == ["local"]

    upload = cli_json("model", "upload", str(ROOT / "examples" / "sentiment"), timeout=600)
    assert upload["build_status"] == "ready", upload
    cli(
        "deployment",
        "create",
        "sent-cli",
        "--model",
        "sentiment",
        "--cluster",
        "edge",
        "--nodepool",
        "cpu",
        "--min-replicas",
        "1",
        "--max-replicas",
        "2",
        "--scale-up-delay",
        "30",
    )
    deployment_id = Deployment.objects.get(slug="sent-cli").pk
    try:
        cli(
            "deployment",
            "status",
            "sent-cli",
            "--until-ready",
            "--timeout",
            "120",
            "--interval",
            "0.5",
            timeout=200,
        )
        got = cli_json("deployment", "get", "sent-cli")
        assert got["autoscale_config"]["scale_up_delay_seconds"] == 30
        assert [r["state"] for r in got["replicas"] if r["state"] == "ready"] == ["ready"]

        answer = cli_json(
            "predict", "sentiment", "--deployment", "sent-cli", "what a wonderful day"
        )
        assert answer["outputs"][0]["data"]["concepts"][0]["id"] == "positive"
        table = cli("predict", "sentiment", "--deployment", "sent-cli", "awful, terrible").stdout
        assert "negative" in table.splitlines()[0] or "negative" in table

        listed = cli_json("deployment", "list")
        assert "sent-cli" in [d["id"] for d in listed]
        cli("deployment", "get", "nope", expect=1)
    finally:
        cli("deployment", "delete", "sent-cli")
    from tests.conftest import wait_for

    wait_for(lambda: not Deployment.objects.filter(slug="sent-cli").exists(), timeout=60)
    assert docker_engine.list_containers(ENGINE, labels=container_labels(deployment_id)) == []
