"""Request bodies are refused by their headers before they are read (issue 12, defect 2).

Each test sends a request to the real ASGI application (`orchestration.asgi`) and counts
what the application pulled from the body stream, and whether Django's multipart parser
(which spools uploads to disk) ever ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.http import multipartparser

from orchestration.request_limits import ANONYMOUS_MAX_BODY_BYTES, max_body_bytes
from tests.catalog_upload.archives import model_files, zip_bytes

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 64 * 1024


class Body:
    """An endless (or finite) request body that counts how much the app read."""

    def __init__(self, total: int | None = None, data: bytes | None = None):
        self.data = data
        self.total = len(data) if data is not None else total
        self.sent = 0

    async def receive(self):
        if self.total is not None and self.sent >= self.total and self.sent:
            # Like a server: after the body, the next message is the client leaving.
            await asyncio.Event().wait()
        if self.data is not None:
            chunk = self.data[self.sent : self.sent + CHUNK]
        else:
            left = CHUNK if self.total is None else min(CHUNK, self.total - self.sent)
            chunk = b"x" * left
        self.sent += len(chunk)
        more = self.total is None or self.sent < self.total
        return {"type": "http.request", "body": chunk, "more_body": more}


def call(path: str, headers: dict[str, str], body: Body, method: str = "POST"):
    from orchestration.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    messages: list[dict] = []

    async def send(message):
        messages.append(message)

    asyncio.run(application(scope, body.receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], dict((k.decode(), v.decode()) for k, v in start["headers"]), content


@pytest.fixture
def parser_calls(monkeypatch):
    """Every run of Django's multipart parser (the code that spools uploads to disk)."""
    calls = []
    original = multipartparser.MultiPartParser.parse

    def parse(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", parse)
    return calls


@pytest.fixture
def small_limit(settings):
    settings.UPLOAD_MAX_BYTES = 200 * 1024
    return max_body_bytes()


MULTIPART = "multipart/form-data; boundary=xyz"


@pytest.mark.django_db(transaction=True)
def test_declared_length_over_the_limit_is_413_unread(small_limit, owner_key, parser_calls):
    body = Body(total=small_limit + 1)
    status, headers, content = call(
        "/api/v1/models/",
        {
            "Authorization": f"Key {owner_key}",
            "Content-Type": MULTIPART,
            "Content-Length": str(small_limit + 1),
        },
        body,
    )
    assert status == 413
    assert headers["content-type"] == "application/json"
    error = json.loads(content)
    assert "larger than the server accepts" in error["detail"]
    assert error["errors"] == [{"field": None, "message": error["detail"]}]
    assert body.sent == 0
    assert parser_calls == []


@pytest.mark.django_db(transaction=True)
def test_chunked_body_is_cut_off_at_the_limit(small_limit, owner_key, parser_calls):
    body = Body(total=None)  # never ends
    status, headers, content = call(
        "/api/v1/models/",
        {
            "Authorization": f"Key {owner_key}",
            "Content-Type": MULTIPART,
            "Transfer-Encoding": "chunked",
        },
        body,
    )
    assert status == 413
    assert json.loads(content)["detail"].startswith("The request body is larger")
    assert small_limit < body.sent <= small_limit + CHUNK
    assert parser_calls == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("auth", [None, "Key orc_not-a-key", "Basic dXNlcjpwYXNz"])
@pytest.mark.parametrize("length", [2 * 1024 * 1024, None])
def test_unauthenticated_large_or_chunked_body_is_401_unread(
    small_limit, parser_calls, auth, length
):
    headers = {"Content-Type": MULTIPART}
    if auth:
        headers["Authorization"] = auth
    if length is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(min(length, small_limit))
    body = Body(total=length)
    status, response_headers, content = call("/api/v1/models/", headers, body)
    assert status == 401
    assert response_headers["www-authenticate"] == "Key"
    assert json.loads(content)["detail"].startswith("Authentication required")
    assert body.sent == 0
    assert parser_calls == []


@pytest.mark.django_db(transaction=True)
def test_portal_upload_without_session_is_refused_unread(small_limit, parser_calls):
    body = Body(total=small_limit)
    status, headers, content = call(
        "/models/upload/", {"Content-Type": MULTIPART, "Content-Length": str(small_limit)}, body
    )
    assert status == 401
    assert headers["content-type"].startswith("text/html")
    assert b"log in to the portal first" in content
    assert body.sent == 0
    assert parser_calls == []


@pytest.mark.django_db(transaction=True)
def test_portal_upload_over_the_limit_says_so(small_limit, owner, parser_calls):
    from django.test import Client

    client = Client()
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    body = Body(total=None)
    status, headers, content = call(
        "/models/upload/",
        {"Content-Type": MULTIPART, "Transfer-Encoding": "chunked", "Cookie": cookie},
        body,
    )
    assert status == 413
    assert headers["content-type"].startswith("text/html")
    assert b"UPLOAD_MAX_BYTES" in content
    assert body.sent <= small_limit + CHUNK
    assert parser_calls == []


def _multipart(archive: bytes) -> bytes:
    return (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="archive"; filename="demo.zip"\r\n'
        b"Content-Type: application/zip\r\n\r\n" + archive + b"\r\n--xyz--\r\n"
    )


@pytest.mark.django_db(transaction=True)
def test_upload_within_the_limit_still_works(small_limit, owner_key, parser_calls):
    # Incompressible weights: larger than a caller without credentials may send.
    data = _multipart(zip_bytes(model_files(**{"1__weights_dot_bin": os.urandom(100 * 1024)})))
    assert ANONYMOUS_MAX_BODY_BYTES < len(data) < small_limit
    headers = {
        "Authorization": f"Key {owner_key}",
        "Content-Type": MULTIPART,
        "Content-Length": str(len(data)),
    }
    status, _, content = call("/api/v1/models/", headers, Body(data=data))
    assert status == 201, content
    assert json.loads(content)["model_id"] == "demo"
    assert len(parser_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_small_anonymous_forms_still_reach_django(small_limit):
    # The login form needs no credentials; a body this small is never spooled to disk.
    data = b"username=nobody&password=wrong"
    status, _, content = call(
        "/login/",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(data))},
        Body(data=data),
    )
    assert status == 403  # Django's CSRF check answered: the request reached Django


def test_uvicorn_refuses_a_huge_upload_before_reading_it(tmp_path):
    """Through the real web server: the 413 arrives while the client is still sending."""
    port = _free_port()
    env = {
        **os.environ,
        "UPLOAD_MAX_BYTES": str(1024 * 1024),
        "ORCHESTRATION_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "TMPDIR": str(tmp_path),
        "SECRET_KEY": uuid.uuid4().hex * 2,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "orchestration.asgi:application", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sock = _connect(port, proc)
        boundary = uuid.uuid4().hex
        sock.sendall(
            (
                "POST /api/v1/models/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {600 * 1024 * 1024}\r\n\r\n"
            ).encode()
        )
        sock.sendall(b"x" * CHUNK)
        reply = b""
        while b"larger than" not in reply:  # the server answers, then closes
            piece = sock.recv(65536)
            if not piece:
                break
            reply += piece
        assert reply.startswith(b"HTTP/1.1 413"), reply
        assert b"larger than the server accepts" in reply
        # Nothing of the body was spooled into the server's temporary folder.
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tmp")] == []
        sock.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _connect(port: int, proc: subprocess.Popen) -> socket.socket:
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            return sock
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {proc.stdout.read()}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
