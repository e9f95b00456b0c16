"""The `orchestrate` client against a live server (pytest-django's live_server)."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from orchestration import cli
from orchestration.deployments.models import Deployment, Replica
from orchestration.nodepools.models import Node

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def run(orchestrate, owner_key):
    """run(*argv) -> (exit code, stdout, stderr) of `orchestrate` with the owner's key."""
    return functools.partial(orchestrate, key=owner_key)


def run_json(run, *argv):
    code, out, err = run(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_compute_commands(run, queued_tasks):
    cluster = run_json(
        run, "cluster", "create", "east", "--cloud-provider", "aws", "--region", "us-east-1"
    )
    assert cluster["id"] == "east" and cluster["cloud_provider"] == "aws"
    assert [c["id"] for c in run_json(run, "cluster", "list")] == ["east"]

    pool = run_json(
        run,
        "nodepool",
        "create",
        "east",
        "cpu",
        "--instance-type",
        "t3.large",
        "--cpu",
        "500m",
        "--memory",
        "8Gi",
        "--max-nodes",
        "3",
        "--price-per-hour",
        "0.08",
    )
    assert pool["memory_bytes"] == 8 * 1024**3 and pool["cpu_cores"] == 0.5
    assert pool["max_nodes"] == 3
    code, out, _ = run("nodepool", "list", "east")
    assert code == 0 and "t3.large" in out and "8Gi" in out.replace(" ", "")

    node = run_json(
        run,
        "node",
        "add",
        "east",
        "cpu",
        "node-1",
        "--engine-url",
        "tcp://10.1.2.3:2376",
        "--address",
        "10.1.2.3",
        "--memory",
        "4Gi",
    )
    assert node["memory_capacity"] == "4Gi" and node["cpu_capacity"] == 0.5
    assert ("probe_node", (Node.objects.get().pk,)) in queued_tasks
    assert [n["name"] for n in run_json(run, "node", "list", "east", "cpu")] == ["node-1"]
    code, out, _ = run("node", "list", "east", "cpu")
    assert out.splitlines()[0].split()[:3] == ["NAME", "ENGINE", "ADDRESS"]
    assert "tcp://10.1.2.3:2376" in out

    assert run("node", "remove", "east", "cpu", "node-1")[0] == 0
    assert run_json(run, "node", "list", "east", "cpu") == []
    assert run("nodepool", "delete", "east", "cpu")[0] == 0
    code, out, _ = run("cluster", "delete", "east")
    assert code == 0 and "Deleted cluster east" in out
    assert run_json(run, "cluster", "list") == []


def test_table_output(run):
    run("cluster", "create", "west", "--description", "Oregon")
    code, out, err = run("cluster", "list")
    assert code == 0 and err == ""
    header, row = out.splitlines()
    assert header.split() == ["ID", "PROVIDER", "REGION", "NODEPOOLS", "SHARED", "DESCRIPTION"]
    assert row.split() == ["west", "local", "-", "0", "no", "Oregon"]


def test_not_found_exits_1_with_message_on_stderr(run):
    code, out, err = run("cluster", "get", "nope")
    assert (code, out) == (1, "")
    assert "HTTP 404" in err and "No cluster with id 'nope'" in err


def test_json_errors_on_stderr(run):
    code, out, err = run("cluster", "get", "nope", "--json")
    assert code == 1 and out == ""
    body = json.loads(err.splitlines()[0])
    assert body["errors"][0]["message"].startswith("No cluster")


def test_conflict_and_validation_exit_1(run):
    assert run("cluster", "create", "east")[0] == 0
    code, _, err = run("cluster", "create", "east")
    assert code == 1 and "HTTP 409" in err and "id: You already have" in err
    code, _, err = run("nodepool", "create", "east", "p", "--memory", "8GB")
    assert code == 1 and "memory:" in err and "did you mean 8Gi" in err


def test_bad_key_exits_1(run):
    code, _, err = run("cluster", "list", "--key", "orc_wrong")
    assert code == 1 and "HTTP 401" in err


def test_usage_errors_exit_2(run):
    assert run("cluster")[0] == 2
    assert run("nodepool", "create", "east")[0] == 2
    assert run("deployment", "create", "x")[0] == 2  # no --model/--cluster/--nodepool
    code, _, err = run("cluster", "list", key=None)
    assert code == 2 and "ORCHESTRATE_KEY" in err
    assert run("--help")[0] == 0


def test_connection_refused_exits_3(monkeypatch, capsys, db):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ORCHESTRATE_KEY", "orc_x")
    code = cli.main(["--url", f"http://127.0.0.1:{port}", "cluster", "list"])
    assert code == 3
    assert "cannot reach" in capsys.readouterr().err


@pytest.fixture
def compute_and_model(owner, compute, ready_model):
    return compute, ready_model


def test_deployment_commands(run, owner, compute_and_model, queued_tasks):
    _, model = compute_and_model
    created = run_json(
        run,
        "deployment",
        "create",
        "sent-prod",
        "--model",
        "sentiment",
        "--cluster",
        "east",
        "--nodepool",
        "cpu",
        "--description",
        "prod",
        "--min-replicas",
        "1",
        "--max-replicas",
        "4",
        "--scale-down-delay",
        "60",
        "--traffic-history",
        "90",
        "--scale-up-delay",
        "30",
        "--scale-to-zero-delay",
        "600",
        "--target-concurrency",
        "8",
    )
    assert created["autoscale_config"] == {
        "min_replicas": 1,
        "max_replicas": 4,
        "scale_down_delay_seconds": 60,
        "traffic_history_seconds": 90,
        "scale_up_delay_seconds": 30,
        "scale_to_zero_delay_seconds": 600,
        "target_concurrency": 8,
    }
    assert created["model_version_id"] == model.version.version_id
    deployment = Deployment.objects.get(slug="sent-prod")
    assert ("reconcile_deployment", (deployment.pk,)) in queued_tasks

    assert [d["id"] for d in run_json(run, "deployment", "list")] == ["sent-prod"]
    code, out, _ = run("deployment", "list")
    assert "sentiment v1" in out and "east/cpu" in out and "0/1" in out

    updated = run_json(run, "deployment", "update", "sent-prod", "--max-replicas", "2")
    assert updated["autoscale_config"]["max_replicas"] == 2
    assert updated["autoscale_config"]["target_concurrency"] == 8

    code, _, err = run(
        "deployment",
        "create",
        "again",
        "--model",
        "sentiment",
        "--cluster",
        "east",
        "--nodepool",
        "cpu",
    )
    assert code == 1 and "HTTP 409" in err and "nodepool_id" in err

    Replica.objects.create(
        deployment=deployment,
        model_version=model.version,
        node=compute_and_model[0].node,
        state="ready",
        address="127.0.0.1:41000",
    )
    got = run_json(run, "deployment", "get", "sent-prod")
    assert got["ready_replicas"] == 1 and got["replicas"][0]["node"] == "node-1"
    code, out, _ = run("deployment", "status", "sent-prod")
    assert "REPLICA" in out and "127.0.0.1:41000" in out and "1 ready of 1 desired" in out

    code, out, err = run("deployment", "status", "sent-prod", "--until-ready", "--interval", "0.05")
    assert code == 0 and "is ready" in err

    deleting = run_json(run, "deployment", "delete", "sent-prod")
    assert deleting["status"] == "deleting"
    code, _, err = run("deployment", "status", "sent-prod", "--until-ready", "--interval", "0.05")
    assert code == 1 and "being deleted" in err


def test_until_ready_times_out_with_exit_4(run, compute_and_model):
    assert (
        run(
            "deployment",
            "create",
            "d",
            "--model",
            "sentiment",
            "--cluster",
            "east",
            "--nodepool",
            "cpu",
        )[0]
        == 0
    )
    code, out, err = run(
        "deployment", "status", "d", "--until-ready", "--timeout", "0.3", "--interval", "0.05"
    )
    assert code == 4 and "timed out" in err and "0 of 1" in err
    # Printed once: the state did not change while waiting.
    assert out.count("---") == 1


def test_watch_json_lines(run, compute_and_model):
    run(
        "deployment",
        "create",
        "d",
        "--model",
        "sentiment",
        "--cluster",
        "east",
        "--nodepool",
        "cpu",
        "--min-replicas",
        "0",
    )
    code, out, _ = run("deployment", "status", "d", "--until-ready", "--json")
    assert code == 0
    (line,) = out.splitlines()
    assert json.loads(line)["desired_replicas"] == 0


def test_deployment_config_file(run, compute_and_model, tmp_path):
    config = tmp_path / "deployment.yaml"
    config.write_text(
        """\
deployment:
  id: from-file
  description: Clarifai-style file
  autoscale_config:
    min_replicas: 0
    max_replicas: 3
    scale_down_delay_seconds: 30
    disable_packing: false
  worker:
    model:
      id: sentiment
  nodepools:
    - id: cpu
      compute_cluster:
        id: east
"""
    )
    created = run_json(run, "deployment", "create", "--config", str(config), "--max-replicas", "2")
    assert created["id"] == "from-file" and (created["cluster_id"], created["nodepool_id"]) == (
        "east",
        "cpu",
    )
    assert created["autoscale_config"]["min_replicas"] == 0
    assert created["autoscale_config"]["max_replicas"] == 2  # the flag wins
    assert created["autoscale_config"]["scale_down_delay_seconds"] == 30

    flat = tmp_path / "update.yaml"
    flat.write_text("autoscale_config:\n  max_replicas: 5\n")
    updated = run_json(run, "deployment", "update", "from-file", "--config", str(flat))
    assert updated["autoscale_config"]["max_replicas"] == 5
    code, _, err = run("deployment", "create", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read" in err


def test_model_list_and_versions(run, owner, make_model):
    make_model(owner, "sentiment")
    make_model(owner, "sentiment", status="failed")
    models = run_json(run, "model", "list")
    assert models[0]["id"] == "sentiment" and models[0]["versions"] == 2
    code, out, _ = run("model", "list")
    assert "v2 failed" in out
    versions = run_json(run, "model", "versions", "sentiment")
    assert [v["number"] for v in versions] == [2, 1]


def _fake_build(monkeypatch, status, log):
    """The build task, stubbed: it marks the version `status` with `log` at once."""
    import types

    from orchestration.catalog import tasks
    from orchestration.catalog.models import ModelVersion

    def delay(pk):
        ModelVersion.objects.filter(pk=pk).update(build_status=status, build_log=log)

    monkeypatch.setattr(tasks, "build_model_version", types.SimpleNamespace(delay=delay))


def test_model_upload_folder_waits_for_build(run, monkeypatch):
    _fake_build(monkeypatch, "ready", "Step 1/2\nStep 2/2\nbuilt\n")
    code, out, err = run("model", "upload", str(EXAMPLES / "noop"), "--interval", "0.05", "-v")
    assert code == 0, err
    assert "Uploading noop.tar.gz" in err and "Build: ready" in err and "| built" in err
    assert "v1" in out
    version = run_json(run, "model", "upload", str(EXAMPLES / "noop"), "--interval", "0.05")
    assert version["number"] == 2 and version["build_status"] == "ready"


def test_model_upload_failed_build_exits_1_with_log_tail(run, monkeypatch):
    _fake_build(monkeypatch, "failed", "pip install\nERROR: no such package nope\n")
    code, _, err = run("model", "upload", str(EXAMPLES / "noop"), "--interval", "0.05")
    assert code == 1
    assert "failed" in err and "ERROR: no such package nope" in err


def test_model_upload_archive_no_wait(run, tmp_path):
    import shutil

    archive = shutil.make_archive(str(tmp_path / "noop"), "zip", EXAMPLES / "noop")
    version = run_json(run, "model", "upload", archive, "--no-wait")
    assert version["model_id"] == "noop" and version["build_status"] == "queued"


def test_model_upload_timeout_exits_4(run):
    code, _, err = run(
        "model", "upload", str(EXAMPLES / "noop"), "--timeout", "0.2", "--interval", "0.05"
    )
    assert code == 4 and "timed out" in err


def test_model_upload_errors(run, tmp_path):
    code, _, err = run("model", "upload", str(tmp_path / "missing"))
    assert code == 2 and "no such folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run("model", "upload", str(tmp_path / "empty"))
    assert code == 1 and "HTTP 400" in err and "archive:" in err


def test_lists_follow_every_page(monkeypatch, capsys):
    """A server with a small page size: `cluster list` still shows every cluster."""
    clusters = [{"id": f"c{n}", "shared": False} for n in range(5)]
    offsets = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        offsets.append(offset)
        return httpx.Response(
            200, json={"items": clusters[offset : offset + 2], "count": len(clusters)}
        )

    monkeypatch.setenv("ORCHESTRATE_URL", "http://portal.test")
    monkeypatch.setenv("ORCHESTRATE_KEY", "orc_k")
    code = cli.main(["--json", "cluster", "list"], transport=httpx.MockTransport(handler))
    assert code == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)] == [f"c{n}" for n in range(5)]
    assert offsets == [0, 2, 4]


# --- predict, against a stand-in server (the predict API is built separately) ------------


def _predict(argv, responder, monkeypatch, capsys):
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["path"] = request.url.path
        seen["auth"] = request.headers["Authorization"]
        seen["body"] = json.loads(request.content)
        return responder(request)

    monkeypatch.setenv("ORCHESTRATE_URL", "http://portal.test")
    monkeypatch.setenv("ORCHESTRATE_KEY", "orc_k")
    code = cli.main(argv, transport=httpx.MockTransport(handler))
    captured = capsys.readouterr()
    return code, captured.out, captured.err, seen


def _ok(data):
    return lambda request: httpx.Response(
        200,
        json={
            "status": {"code": 10000, "description": "Ok"},
            "outputs": [{"id": "o1", "data": data, "input": {"id": "i1"}}],
        },
    )


def test_predict_text_ranks_concepts(monkeypatch, capsys):
    concepts = [
        {"id": "neg", "name": "negative", "value": 0.1},
        {"id": "pos", "name": "positive", "value": 0.9},
    ]
    code, out, _, seen = _predict(
        ["predict", "sentiment", "--deployment", "sent-prod", "I love it"],
        _ok({"concepts": concepts}),
        monkeypatch,
        capsys,
    )
    assert code == 0
    assert seen["path"] == "/v2/models/sentiment/outputs" and seen["auth"] == "Key orc_k"
    assert seen["body"] == {
        "inputs": [{"data": {"text": {"raw": "I love it"}}}],
        "runner_selector": {"deployment": {"id": "sent-prod"}},
    }
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["1", "positive", "0.9000"]
    assert lines[2].split()[:3] == ["2", "negative", "0.1000"]


def test_predict_image_file_and_text_output(monkeypatch, capsys, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 20)
    code, out, _, seen = _predict(
        ["predict", "captioner", "--version", "abc", f"@{image}"],
        _ok({"text": {"raw": "a cat"}}),
        monkeypatch,
        capsys,
    )
    assert code == 0 and out.strip() == "a cat"
    assert seen["path"] == "/v2/models/captioner/versions/abc/outputs"
    assert "image" in seen["body"]["inputs"][0]["data"]
    assert "runner_selector" not in seen["body"]


def test_predict_error_status(monkeypatch, capsys):
    def deploying(request):
        return httpx.Response(
            503,
            json={"status": {"code": 21300, "description": "Model is deploying", "details": "x"}},
        )

    code, out, err, _ = _predict(["predict", "m", "hi"], deploying, monkeypatch, capsys)
    assert code == 1 and out == "" and "HTTP 503" in err and "Model is deploying" in err


def test_predict_unreadable_file_is_usage_error(monkeypatch, capsys, tmp_path):
    code, _, err, _ = _predict(
        ["predict", "m", f"@{tmp_path / 'missing.txt'}"], _ok({}), monkeypatch, capsys
    )
    assert code == 2 and "cannot read" in err


# --- the installed console script ---------------------------------------------------------


def test_console_script_against_live_server(live_server, owner_key, make_cluster, owner):
    make_cluster(owner, "east")
    script = Path(sys.executable).with_name("orchestrate")
    env = {**os.environ, "ORCHESTRATE_URL": live_server.url, "ORCHESTRATE_KEY": owner_key}
    result = subprocess.run(
        [str(script), "cluster", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [c["id"] for c in json.loads(result.stdout)] == ["east"]
    result = subprocess.run(
        [str(script), "cluster", "get", "nope"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1 and "HTTP 404" in result.stderr


def test_cli_does_not_import_django():
    """The client stands alone (stdlib, httpx and orchestration.constants): importing it
    and running `orchestrate --help` loads neither Django nor Celery."""
    code = (
        "import sys\n"
        "from orchestration.cli import main\n"
        "assert main(['--help']) == 0\n"
        "loaded = [m for m in ('django', 'celery') if m in sys.modules]\n"
        "sys.exit(f'loaded: {loaded}' if loaded else 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd="/", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "--help"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "usage: orchestrate" in result.stdout, result.stderr


def test_autoscale_flags_cover_every_setting():
    """Every autoscale setting of the shared list has a flag, under its API field's name."""
    from orchestration.constants import AUTOSCALE_DEFAULTS

    parser = cli.build_parser()
    args = parser.parse_args(
        ["deployment", "update", "d"]
        + [arg for name in AUTOSCALE_DEFAULTS for arg in ("--" + name.replace("_", "-"), "7")]
    )
    assert {name: getattr(args, name) for name in AUTOSCALE_DEFAULTS} == dict.fromkeys(
        AUTOSCALE_DEFAULTS, 7
    )


def test_predict_unknown_model_against_live_server(run):
    """The real predict endpoint answers a Clarifai-style error; the CLI shows it, exit 1."""
    code, out, err = run("predict", "no-such-model", "hello")
    assert code == 1 and out == ""
    assert "HTTP 404" in err
