"""The logs panel, its poll and the download in the portal, and the API's logs endpoint,
with the engine boundary answering what each test says."""

from __future__ import annotations

import pytest
from django.test import Client

from orchestration import docker_engine
from orchestration.docker_engine import LogLine
from orchestration.docker_engine.logs import format_ns
from tests.logs.conftest import BASE_NS, lines

pytestmark = pytest.mark.django_db

PANEL = {"HX-Request": "true", "HX-Target": "replica-logs"}
POLL = {"HX-Request": "true", "HX-Target": "log-poll"}


def _logs_url(slug="dep"):
    return f"/deployments/{slug}/logs/"


# -- portal --------------------------------------------------------------------------------


def test_the_page_loads_the_panel_which_lists_replicas_with_a_log(owner_client, logged, engine):
    page = owner_client.get("/deployments/dep/").content.decode()
    assert 'id="replica-logs"' in page and f'hx-get="{_logs_url()}"' in page
    panel = owner_client.get(_logs_url(), headers=PANEL).content.decode()
    assert "<html" not in panel
    for replica in (logged.ready, logged.failed, logged.pending):
        assert f"?replica={replica.pk}" in panel
    # A stopped replica is listed only while it had a container (this one had).
    assert f"?replica={logged.stopped.pk}" in panel
    assert "Pick a replica" in panel
    assert engine.calls == []  # nothing is read before a replica is picked
    assert "every 5s" not in panel


def test_with_no_replica_yet_the_panel_looks_again(owner_client, logged, engine):
    logged.deployment.replicas.all().delete()
    panel = owner_client.get(_logs_url(), headers=PANEL).content.decode()
    assert "No replica has a log yet" in panel
    assert 'hx-trigger="every 5s"' in panel and f'hx-get="{_logs_url()}"' in panel


def test_picking_a_replica_shows_its_lines_and_polls_for_newer(owner_client, logged, engine):
    engine.logs["c-ready"] = lines("starting", "<b>not markup</b>", "ready")
    panel = owner_client.get(
        _logs_url(), {"replica": logged.ready.pk}, headers=PANEL
    ).content.decode()
    assert "starting" in panel and "&lt;b&gt;not markup&lt;/b&gt;" in panel
    assert engine.calls[-1]["tail"] == 200 and engine.calls[-1]["timeout"] == 3.0
    assert 'hx-trigger="every 2s"' in panel
    last = engine.logs["c-ready"][-1].at
    assert f"since={last.replace(':', '%3A')}" in panel
    assert f"/deployments/dep/logs/{logged.ready.pk}.log" in panel

    engine.logs["c-ready"] += lines("a new line", start=10)
    poll = owner_client.get(
        _logs_url(), {"replica": logged.ready.pk, "since": last}, headers=POLL
    ).content.decode()
    assert 'hx-swap-oob="beforeend:#log-lines"' in poll
    assert "a new line" in poll and "starting" not in poll
    assert 'hx-trigger="every 2s"' in poll


def test_a_quiet_poll_keeps_its_place(owner_client, logged, engine):
    engine.logs["c-ready"] = lines("only")
    since = engine.logs["c-ready"][-1].at
    poll = owner_client.get(
        _logs_url(), {"replica": logged.ready.pk, "since": since}, headers=POLL
    ).content.decode()
    assert "hx-swap-oob" not in poll
    assert f"since={since.replace(':', '%3A')}" in poll


def test_unreachable_node_is_said_plainly_and_polling_goes_on(owner_client, logged, engine):
    engine.logs["c-ready"] = docker_engine.EngineUnreachable(
        "tcp://10.0.0.5:2376", "no answer within 3 s"
    )
    response = owner_client.get(_logs_url(), {"replica": logged.ready.pk}, headers=PANEL)
    assert response.status_code == 200
    text = response.content.decode()
    assert "node node-1 did not answer within 3 s: no answer within 3 s" in text
    assert 'hx-trigger="every 2s"' in text


def test_a_stopped_replicas_log_reads_once_and_a_gone_one_says_so(owner_client, logged, engine):
    engine.logs["c-failed"] = lines("Traceback: boom")
    failed = owner_client.get(
        _logs_url(), {"replica": logged.failed.pk}, headers=PANEL
    ).content.decode()
    assert "Traceback: boom" in failed and "this is the end of its log" in failed
    assert "every 2s" not in failed

    gone = owner_client.get(
        _logs_url(), {"replica": logged.stopped.pk}, headers=PANEL
    ).content.decode()
    assert f"The container of replica {logged.stopped.pk} is gone from node-1" in gone
    assert "every 2s" not in gone and "Download whole log" not in gone


def test_bad_parameters_fall_back_sensibly(owner_client, logged, other_user, engine):
    for bad in ("abc", "999999", "²"):
        response = owner_client.get(_logs_url(), {"replica": bad}, headers=PANEL)
        assert response.status_code == 200
        assert "pick one of its replicas" in response.content.decode()
    engine.logs["c-ready"] = lines("x")
    # A mangled `since` starts over from the tail instead of failing.
    poll = owner_client.get(
        _logs_url(), {"replica": logged.ready.pk, "since": "garbage"}, headers=POLL
    )
    assert poll.status_code == 200 and "x</span>" in poll.content.decode()
    # A poll that names no replica of this deployment is told to stop (htmx's 286).
    assert owner_client.get(_logs_url(), headers=POLL).status_code == 286
    assert owner_client.get(_logs_url(), {"replica": "999999"}, headers=POLL).status_code == 286


def test_without_javascript_the_logs_are_a_page(owner_client, logged, engine):
    engine.logs["c-ready"] = lines("plain page")
    page = owner_client.get(_logs_url(), {"replica": logged.ready.pk}).content.decode()
    assert "<html" in page and "Replica logs of dep" in page and "plain page" in page


def test_download_is_the_whole_log_as_text(owner_client, logged, engine):
    engine.logs["c-ready"] = lines("one", "two")
    response = owner_client.get(f"/deployments/dep/logs/{logged.ready.pk}.log")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="dep-replica-{logged.ready.pk}.log"'
    )
    assert response.content.decode().splitlines() == [
        f"{engine.logs['c-ready'][0].at} one",
        f"{engine.logs['c-ready'][1].at} two",
    ]
    assert engine.calls[-1]["tail"] is None and engine.calls[-1]["timeout"] == 20.0

    gone = owner_client.get(f"/deployments/dep/logs/{logged.stopped.pk}.log")
    assert gone.status_code == 404 and b"is gone" in gone.content
    engine.logs["c-failed"] = docker_engine.EngineUnreachable("unix:///x", "refused")
    unreachable = owner_client.get(f"/deployments/dep/logs/{logged.failed.pk}.log")
    assert unreachable.status_code == 503 and b"did not answer" in unreachable.content
    assert owner_client.get("/deployments/dep/logs/999999.log").status_code == 404


def test_only_the_owner_reads_logs(other_client, visitor_client, logged, engine):
    engine.logs["c-ready"] = lines("secret")
    pk = logged.ready.pk
    panel = other_client.get(_logs_url(), {"replica": pk}, headers=PANEL)
    assert panel.status_code == 404 and b"secret" not in panel.content
    # An htmx poll is sent off the page (the deployment is not the user's, or is deleted).
    assert panel["HX-Redirect"] == "/deployments/"
    assert other_client.get(_logs_url(), {"replica": pk}).status_code == 404
    assert other_client.get(f"/deployments/dep/logs/{pk}.log").status_code == 404
    for url in (_logs_url(), f"/deployments/dep/logs/{pk}.log"):
        response = visitor_client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert engine.calls == []


# -- API ---------------------------------------------------------------------------------


def test_api_reads_one_replica_and_follows_with_since(owner_api, logged, engine):
    engine.logs["c-ready"] = lines("a", "b", "c")
    url = f"deployments/dep/logs/?replica={logged.ready.pk}&tail=2"
    body = owner_api.get(url).json()
    assert [line["text"] for line in body["lines"]] == ["b", "c"]
    assert {line["replica"] for line in body["lines"]} == {logged.ready.pk}
    assert body["replicas"] == [
        {
            "id": logged.ready.pk,
            "state": "ready",
            "node": "node-1",
            "following": True,
            "gone": False,
            "error": "",
        }
    ]
    assert body["next_since"] == body["lines"][-1]["at"]
    engine.logs["c-ready"] += lines("d", start=5)
    newer = owner_api.get(url + f"&since={body['next_since']}").json()
    assert [line["text"] for line in newer["lines"]] == ["d"]
    quiet = owner_api.get(url + f"&since={newer['next_since']}").json()
    assert quiet["lines"] == [] and quiet["next_since"] == newer["next_since"]


def test_api_without_replica_merges_the_current_ones_by_time(owner_api, logged, engine):
    engine.logs["c-ready"] = [lines("r1", "r3")[0], lines("r3", start=3)[0]]
    engine.logs["c-failed"] = lines("f2", start=2)
    body = owner_api.get("deployments/dep/logs/").json()
    # Current replicas with a container: the ready one (failed and stopped are past).
    assert [r["id"] for r in body["replicas"]] == [logged.ready.pk]
    assert [line["text"] for line in body["lines"]] == ["r1", "r3"]
    failed = owner_api.get(f"deployments/dep/logs/?replica={logged.failed.pk}").json()
    assert failed["lines"][0]["text"] == "f2" and failed["replicas"][0]["following"] is False


def test_api_reports_unreachable_and_gone_in_the_replica(owner_api, logged, engine):
    engine.logs["c-ready"] = docker_engine.EngineUnreachable("tcp://x:2376", "timed out")
    body = owner_api.get(f"deployments/dep/logs/?replica={logged.ready.pk}").json()
    assert body["replicas"][0]["error"] == "node node-1 did not answer within 3 s: timed out"
    gone = owner_api.get(f"deployments/dep/logs/?replica={logged.stopped.pk}").json()
    assert gone["replicas"][0]["gone"] is True and gone["next_since"] == ""
    pending = owner_api.get(f"deployments/dep/logs/?replica={logged.pending.pk}").json()
    assert pending["replicas"][0]["error"] == f"Replica {logged.pending.pk} has no container yet."


@pytest.mark.parametrize(
    ("query", "status", "field", "words"),
    [
        ("tail=abc", 400, "tail", "valid integer"),
        ("tail=0", 400, "tail", "greater than or equal to 1"),
        ("tail=5000", 400, "tail", "less than or equal to 2000"),
        ("replica=abc", 400, "replica", "valid integer"),
        ("replica=0", 400, "replica", "greater than or equal to 1"),
        ("since=yesterday", 400, "since", "RFC 3339"),
        ("since=nan", 400, "since", "RFC 3339"),
        ("since=1796338823.5", 400, "since", "RFC 3339"),
        ("since=2026-12-03", 400, "since", "RFC 3339"),
        # A replica id is checked like the API's other ids: unknown is a 404 naming it.
        ("replica=999999", 404, "replica", "deployment dep has no replica 999999"),
    ],
)
def test_api_bad_parameters_are_refused(owner_api, logged, engine, query, status, field, words):
    response = owner_api.get(f"deployments/dep/logs/?{query}")
    assert response.status_code == status, response.content
    error = response.json()["errors"][0]
    assert error["field"] == field and words in error["message"], error
    assert engine.calls == []


def test_api_since_is_read_to_the_microsecond(owner_api, logged, engine):
    engine.logs["c-ready"] = [
        LogLine(BASE_NS + 1_000_500, "same microsecond as since"),
        LogLine(BASE_NS + 1_001_000, "next microsecond"),
    ]
    since = format_ns(BASE_NS + 1_000_123)
    body = owner_api.get(f"deployments/dep/logs/?replica={logged.ready.pk}&since={since}").json()
    assert [line["text"] for line in body["lines"]] == ["next microsecond"]
    offset = owner_api.get(
        f"deployments/dep/logs/?replica={logged.ready.pk}&since=2026-12-04T00:00:22%2B01:00"
    ).json()
    assert len(offset["lines"]) == 2
    ancient = owner_api.get(
        f"deployments/dep/logs/?replica={logged.ready.pk}&since=0001-01-01T00:00:00%2B05:00"
    ).json()
    assert len(ancient["lines"]) == 2


def test_api_logs_are_the_owners_only(owner_api, other_api, anon_api, logged, engine):
    engine.logs["c-ready"] = lines("secret")
    assert other_api.get("deployments/dep/logs/").status_code == 404
    assert anon_api.get("deployments/dep/logs/").status_code == 401
    assert owner_api.get("deployments/nope/logs/").status_code == 404
    assert [c["id"] for c in engine.calls] == []
    # A session works too, as for the rest of the API.
    client = Client()
    client.force_login(logged.deployment.owner)
    assert client.get("/api/v1/deployments/dep/logs/").json()["lines"][0]["text"] == "secret"
