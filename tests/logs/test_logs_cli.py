"""`orchestrate deployment logs` against a live server, the engine boundary answering
what each test says."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection

from orchestration import cli, docker_engine
from orchestration.deployments.models import ReplicaState
from tests.logs.conftest import lines

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_logs_of_one_replica_and_of_all(run, logged, engine):
    engine.logs["c-ready"] = lines("hello", "world")
    code, out, err = run("deployment", "logs", "dep", "--replica", str(logged.ready.pk))
    assert (code, out, err) == (0, "hello\nworld\n", "")
    code, out, _ = run("deployment", "logs", "dep", "--tail", "1", "-t")
    assert code == 0
    assert out == f"[{logged.ready.pk}] {engine.logs['c-ready'][1].at} world\n"
    code, out, _ = run("deployment", "logs", "dep", "--json")
    assert json.loads(out)["lines"][0]["text"] == "hello"


def test_unreadable_logs_say_why_and_exit_1(run, logged, engine):
    engine.logs["c-ready"] = docker_engine.EngineUnreachable("tcp://x:2376", "timed out")
    code, out, err = run("deployment", "logs", "dep", "--replica", str(logged.ready.pk))
    assert code == 1 and out == ""
    assert f"replica {logged.ready.pk}: node node-1 did not answer within 3 s" in err
    code, _, err = run("deployment", "logs", "dep", "--replica", str(logged.stopped.pk))
    assert code == 1 and "is gone from node-1" in err
    code, _, err = run("deployment", "logs", "dep", "--tail", "0")
    assert code == 1 and "tail: Input should be greater than or equal to 1" in err
    code, _, err = run("deployment", "logs", "dep", "--replica", "999999")
    assert code == 1 and "has no replica 999999" in err
    code, _, err = run("deployment", "logs", "nope")
    assert code == 1 and "HTTP 404" in err


def test_follow_prints_new_lines_until_the_replica_stops(run, logged, engine):
    engine.logs["c-ready"] = lines("first")
    replica = logged.ready

    def later():
        time.sleep(0.6)
        engine.logs["c-ready"] = engine.logs["c-ready"] + lines("second", start=1)
        time.sleep(0.6)
        replica.state = ReplicaState.STOPPED
        replica.save(update_fields=["state"])
        connection.close()  # this thread's own connection, or the test database stays in use

    writer = threading.Thread(target=later)
    writer.start()
    code, out, _ = run(
        "deployment", "logs", "dep", "--replica", str(replica.pk), "-f", "--interval", "0.2"
    )
    writer.join()
    assert code == 0 and out == "first\nsecond\n"
    # Each poll after the first asked only for lines after the last one printed.
    # (The API reads `since` to the microsecond.)
    assert engine.calls[-1]["since_ns"] // 1000 == engine.logs["c-ready"][-1].at_ns // 1000
