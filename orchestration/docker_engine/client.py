"""Connections to Docker engines (one cached client per engine), and the errors they raise."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import docker
import docker.errors
import requests.exceptions
from docker.tls import TLSConfig

#: Most calls are quick metadata operations; a short timeout keeps a dead node from
#: stalling a Celery worker or the autoscaler loop.
API_TIMEOUT_SECONDS = 15.0
#: Image builds, saves and loads move hundreds of megabytes.
LONG_TIMEOUT_SECONDS = 1800.0

CONTAINER_PORT = 8080
RUNTIME_USER = "10001:10001"


# Errors ---------------------------------------------------------------------------------


class EngineError(Exception):
    """The engine answered but refused or failed the operation."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message


class EngineUnreachable(EngineError):
    """No answer from the engine at `url`. Transient: worth retrying later."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, f"engine unreachable: {reason}")
        self.reason = reason


class NotFoundError(EngineError):
    """The container or image does not exist on that engine."""


class ImageBuildError(EngineError):
    """`docker build` failed; `log` is the build output to show the user."""

    def __init__(self, url: str, message: str, log: str) -> None:
        super().__init__(url, message)
        self.log = log


# Results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSOptions:
    """Client TLS for `tcp://` engines, passed explicitly rather than via DOCKER_* env.

    Paths are PEM files on this host; `verify` checks the engine against `ca_cert`.
    """

    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = True

    def config(self) -> TLSConfig:
        pair = (self.client_cert, self.client_key) if self.client_cert else None
        return TLSConfig(client_cert=pair, ca_cert=self.ca_cert, verify=self.verify)


def default_tls(url: str) -> TLSOptions | None:
    """TLS for a `tcp://` or `https://` engine from the DOCKER_TLS_* settings, if any.

    Remote engines listen with TLS on 2376; one client certificate for the whole
    installation is how such fleets are usually set up.
    """
    if not url.startswith(("tcp://", "https://")):
        return None
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        ca, cert, key = (
            settings.DOCKER_TLS_CA_CERT,
            settings.DOCKER_TLS_CLIENT_CERT,
            settings.DOCKER_TLS_CLIENT_KEY,
        )
    except ImproperlyConfigured:  # used outside a configured Django: plain TCP
        return None
    if not (ca or cert):
        return None
    return TLSOptions(ca_cert=ca or None, client_cert=cert or None, client_key=key or None)


# Clients --------------------------------------------------------------------------------

_clients: dict[tuple[str, TLSOptions | None, float], docker.DockerClient] = {}
_clients_lock = threading.Lock()


class _APIClient(docker.APIClient):
    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):
            # The engine's CA (set from TLSConfig) must win over REQUESTS_CA_BUNDLE or
            # CURL_CA_BUNDLE, which requests otherwise prefers to a session's own CA
            # (psf/requests#3829), failing every TLS engine on hosts that set them.
            merged["verify"] = self.verify
        return merged


class _DockerClient(docker.DockerClient):
    # DockerClient.__init__ does nothing but build its APIClient: build ours instead.
    def __init__(self, **kwargs):
        self.api = _APIClient(**kwargs)


def _client(
    url: str, tls: TLSOptions | None = None, timeout: float = API_TIMEOUT_SECONDS
) -> docker.DockerClient:
    """One cached client per engine, TLS setting and timeout class.

    Clients hold connection pools; reusing them avoids a TCP/TLS handshake and an API
    version negotiation per call. Creation negotiates the API version (engines here may
    be as old as 20.10 / API 1.41), which is the first contact and can fail.
    """
    tls = tls or default_tls(url)
    key = (url, tls, timeout)
    with _clients_lock:
        client = _clients.get(key)
    if client is not None:
        return client
    with _translate(url):
        client = _DockerClient(
            base_url=url,
            version="auto",
            timeout=int(math.ceil(timeout)),
            tls=tls.config() if tls else False,
            max_pool_size=32,
        )
    with _clients_lock:
        existing = _clients.setdefault(key, client)
    if existing is not client:
        client.close()
    return existing


def _forget(url: str) -> None:
    # After a connection failure the engine may have restarted with another API
    # version, or the pool holds dead sockets: start afresh next time.
    with _clients_lock:
        stale = [key for key in _clients if key[0] == url]
        clients = [_clients.pop(key) for key in stale]
    for client in clients:
        # Closing a broken client may fail too; there is nothing left to do about it.
        with suppress(Exception):
            client.close()


def close_all() -> None:
    """Drop every cached client (tests, worker shutdown)."""
    with _clients_lock:
        urls = {key[0] for key in _clients}
    for url in urls:
        _forget(url)


_UNREACHABLE_HINTS = (
    "Error while fetching server API version",
    "Connection aborted",
    "Connection refused",
    "No such file or directory",
    "timed out",
)


@contextmanager
def _translate(url: str) -> Iterator[None]:
    """Map SDK and transport exceptions onto EngineUnreachable / EngineError."""
    try:
        yield
    except docker.errors.NotFound as exc:
        raise NotFoundError(url, _explain(exc)) from exc
    except docker.errors.APIError as exc:
        raise EngineError(url, _explain(exc)) from exc
    except (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        _forget(url)
        raise EngineUnreachable(url, _short(exc)) from exc
    except docker.errors.DockerException as exc:
        text = str(exc)
        # The SDK wraps connection failures during version negotiation in a bare
        # DockerException; only its text tells them apart from real API errors.
        if any(hint in text for hint in _UNREACHABLE_HINTS):
            _forget(url)
            raise EngineUnreachable(url, _short(exc)) from exc
        raise EngineError(url, text) from exc


def _explain(exc: docker.errors.APIError) -> str:
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or exc)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
