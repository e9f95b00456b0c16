"""Image inputs of the predict API: base64 checked before routing, URLs fetched by the
router only where PREDICT_IMAGE_URLS allows it, each bad input a 400 naming its field.

A replica here is a local HTTP server that echoes the data objects it was given, so the
tests see exactly what a model would get; the image URLs are served by another local
server, which only PREDICT_IMAGE_URL_PRIVATE (set by these tests) lets the router reach.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestration.accounts.models import AccessToken
from orchestration.deployments.models import Replica, ReplicaState
from orchestration.predict import images, resolve
from orchestration.predict.router import router

from .test_predict_hardening import ENTRY_POINTS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
PNG = (FIXTURES / "digit-3-dark-on-light.png").read_bytes()
PATH = "/v2/users/me/deployments/dep/outputs"
FIELD = "inputs[0].data.image"


class _Echo(BaseHTTPRequestHandler):
    """A replica whose model returns each input data object as its output."""

    def do_POST(self):  # noqa: N802 - http.server's name
        inputs = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"]
        self._answer(200, "application/json", json.dumps({"outputs": inputs}).encode())

    def _answer(self, status, content_type, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Images(_Echo):
    """Where image URLs point: a PNG, a text file, a big file, redirects."""

    def do_GET(self):  # noqa: N802
        if self.path == "/digit.png":
            self._answer(200, "image/png", PNG)
        elif self.path == "/notes.txt":
            self._answer(200, "text/plain", b"not a picture")
        elif self.path == "/big.png":
            self._answer(200, "image/png", PNG + b"\0" * 4096)
        elif self.path == "/missing.png":
            self._answer(404, "text/plain", b"no")
        elif self.path.startswith("/to?"):
            self._answer(302, "text/plain", b"", [("Location", self.path[4:])])
        elif self.path == "/loop":
            self._answer(302, "text/plain", b"", [("Location", "/loop")])
        elif self.path == "/slow.png":
            threading.Event().wait(3)
            self._answer(200, "image/png", PNG)


@contextlib.contextmanager
def _serve(handler) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def replica_address():
    with _serve(_Echo) as address:
        yield address


@pytest.fixture
def image_host(settings):
    settings.PREDICT_IMAGE_URLS = True
    # Loopback is what the test's server listens on; production keeps it refused.
    settings.PREDICT_IMAGE_URL_PRIVATE = True
    with _serve(_Images) as address:
        yield address


@pytest.fixture
def world(owner, make_cluster, make_nodepool, make_model, make_deployment, monkeypatch, settings):
    settings.COLD_START_TIMEOUT = 0
    from orchestration.deployments import tasks

    monkeypatch.setattr(tasks.reconcile_deployment, "delay", lambda *a, **k: None)
    resolve._targets.forget()
    router.invalidate()
    pool = make_nodepool(make_cluster(owner, "east"), "cpu")
    model, version = make_model(owner, "digits")
    dep = make_deployment(owner, model, version, pool, slug="dep", desired_replicas=0)
    return AccessToken.issue(owner, "images")[1], dep


@pytest.fixture
def served(world, replica_address):
    key, dep = world
    Replica.objects.create(
        deployment=dep,
        model_version=dep.model_version,
        state=ReplicaState.READY,
        address=replica_address,
    )
    router.invalidate()
    return key


def _post(entry: str, key: str, image: dict):
    raw = json.dumps({"inputs": [{"id": "in-1", "data": {"image": image}}]}).encode()
    return ENTRY_POINTS[entry](PATH, raw, key)


def _refused(response, field: str, words: str) -> dict:
    assert response.status_code == 400, response.content[:500]
    status = response.json()["status"]
    assert status["code"] == resolve.INVALID_REQUEST
    assert status["description"].startswith(field), status
    assert words in status["description"] + " " + status["details"], status
    return status


pytestmark = [pytest.mark.django_db(transaction=True)]
ENTRIES = pytest.mark.parametrize("entry", ENTRY_POINTS)


@ENTRIES
def test_a_base64_image_reaches_the_model_as_sent(served, entry):
    encoded = base64.b64encode(PNG).decode()
    response = _post(entry, served, {"base64": encoded})
    assert response.status_code == 200, response.content[:500]
    output = response.json()["outputs"][0]
    assert output["data"] == {"image": {"base64": encoded}}
    assert output["input"] == {"id": "in-1", "data": {"image": {"base64": encoded}}}


@ENTRIES
def test_url_safe_unpadded_or_wrapped_base64_reaches_the_model_standard(served, entry):
    standard = base64.b64encode(PNG + b"x").decode()  # padded: one byte past a multiple of 3
    variants = [
        base64.urlsafe_b64encode(PNG + b"x").decode().rstrip("="),
        "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76)),
    ]
    for variant in variants:
        response = _post(entry, served, {"base64": variant})
        assert response.status_code == 200, response.content[:500]
        assert response.json()["outputs"][0]["data"]["image"]["base64"] == standard


@ENTRIES
def test_bad_base64_is_a_400_naming_the_field(world, entry):
    key, _ = world
    _refused(_post(entry, key, {"base64": "not*base64!"}), f"{FIELD}.base64", "not valid base64")
    _refused(_post(entry, key, {"base64": 42}), f"{FIELD}.base64", "must be a base64 string")


@ENTRIES
def test_a_non_image_is_a_400(world, entry):
    key, _ = world
    text = base64.b64encode(b"just some text, no picture").decode()
    status = _refused(_post(entry, key, {"base64": text}), f"{FIELD}.base64", "is not an image")
    assert "(PNG, JPEG, GIF, WebP or BMP)" in status["description"]


@pytest.mark.parametrize(
    "head",
    [
        b"\x89PNG\r\n\x1a\n" + b"\0" * 24,
        b"\xff\xd8\xff\xe0" + b"\0" * 28,
        b"GIF89a" + b"\0" * 26,
        b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 16,
        b"BM" + b"\0" * 30,
    ],
)
def test_each_image_format_is_recognised(head):
    assert images.image_kind(head) is not None
    assert images.image_kind(b"RIFF\x10\0\0\0WAVEfmt ") is None
    assert images.image_kind(b"%PDF-1.7") is None


@ENTRIES
def test_an_image_over_the_limit_is_a_400_naming_the_limit(world, entry, settings):
    key, _ = world
    settings.PREDICT_IMAGE_MAX_BYTES = 1024
    big = base64.b64encode(PNG + b"\0" * 2048).decode()
    status = _refused(_post(entry, key, {"base64": big}), f"{FIELD}.base64", "too large")
    assert "the limit is 1024 (PREDICT_IMAGE_MAX_BYTES)" in status["details"]


@ENTRIES
def test_an_image_needs_base64_or_url(world, entry):
    key, _ = world
    _refused(_post(entry, key, {}), FIELD, "needs base64 or url")
    raw = json.dumps({"inputs": [{"data": {"image": "x.png"}}]}).encode()
    _refused(ENTRY_POINTS[entry](PATH, raw, key), FIELD, "must be an object")


@ENTRIES
def test_urls_are_refused_unless_the_setting_allows_them(world, entry):
    key, _ = world
    status = _refused(
        _post(entry, key, {"url": "https://example.com/digit.png"}), f"{FIELD}.url", "cannot"
    )
    assert status["details"] == (
        "image URLs are not fetched by this server; send image.base64 (PREDICT_IMAGE_URLS)"
    )


@ENTRIES
def test_a_url_is_fetched_and_the_model_gets_base64(served, image_host, entry):
    url = f"http://{image_host}/digit.png"
    response = _post(entry, served, {"url": url})
    assert response.status_code == 200, response.content[:500]
    output = response.json()["outputs"][0]
    assert output["data"] == {"image": {"base64": base64.b64encode(PNG).decode()}}
    # The caller's input is echoed as sent.
    assert output["input"]["data"] == {"image": {"url": url}}
    # A redirect on the same (allowed) host is followed.
    response = _post(entry, served, {"url": f"http://{image_host}/to?/digit.png"})
    assert response.status_code == 200, response.content[:500]


@ENTRIES
def test_url_errors_are_400s_naming_the_field(served, image_host, entry, settings):
    field = f"{FIELD}.url"
    base = f"http://{image_host}"
    _refused(_post(entry, served, {"url": f"{base}/notes.txt"}), field, "is not an image")
    _refused(_post(entry, served, {"url": f"{base}/missing.png"}), field, "answered 404")
    _refused(_post(entry, served, {"url": f"{base}/loop"}), field, "more than 5 redirects")
    _refused(_post(entry, served, {"url": f"ftp://{image_host}/x.png"}), field, "http://")
    _refused(_post(entry, served, {"url": "http://no-such-host.invalid/x.png"}), field, "resolve")
    settings.PREDICT_IMAGE_MAX_BYTES = 1024
    _refused(_post(entry, served, {"url": f"{base}/big.png"}), field, "PREDICT_IMAGE_MAX_BYTES")
    settings.PREDICT_IMAGE_URL_TIMEOUT = 0.5
    _refused(_post(entry, served, {"url": f"{base}/slow.png"}), field, "PREDICT_IMAGE_URL_TIMEOUT")


@ENTRIES
def test_private_addresses_are_refused_at_every_hop(served, image_host, entry, settings):
    settings.PREDICT_IMAGE_URL_PRIVATE = False
    field = f"{FIELD}.url"
    for url in (
        f"http://{image_host}/digit.png",
        "http://localhost/x.png",
        "http://[::1]/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/x.png",
    ):
        status = _refused(_post(entry, served, {"url": url}), field, "private address")
        assert "PREDICT_IMAGE_URL_PRIVATE" in status["details"]


def test_a_redirect_to_a_private_address_is_refused(monkeypatch, settings):
    """A public first hop (its address check faked) that redirects to loopback."""
    from asgiref.sync import async_to_sync

    settings.PREDICT_IMAGE_URLS = True
    settings.PREDICT_IMAGE_URL_PRIVATE = False
    real = images._public_address
    checked = []

    async def first_hop_public(host, port, scheme, field):
        checked.append(host)
        if len(checked) == 1:
            return "127.0.0.1"  # as if the name had resolved to a public address
        return await real(host, port, scheme, field)

    with _serve(_Images) as address:
        monkeypatch.setattr(images, "_public_address", first_hop_public)
        port = address.rsplit(":", 1)[1]
        item = {
            "id": "x",
            "data": {"image": {"url": f"http://images.example:{port}/to?http://{address}/"}},
            "fetch": f"http://images.example:{port}/to?http://{address}/digit.png",
        }
        with pytest.raises(resolve.PredictError) as refused:
            async_to_sync(images.fetch_urls)([item])
        assert checked == ["images.example", "127.0.0.1"]
        assert refused.value.description == f"{FIELD}.url points to a private address"


def test_text_inputs_skip_every_image_check(monkeypatch):
    from orchestration.predict.views import parse_body

    monkeypatch.setattr(images, "check_image", lambda *a: pytest.fail("an image check ran"))
    inputs, _ = parse_body(b'{"inputs": [{"data": {"text": {"raw": "hi"}}}]}')
    assert inputs[0]["data"] == {"text": {"raw": "hi"}} and "fetch" not in inputs[0]
