"""A live gRPC server (orchestration.grpc_api) on a free port, in a thread of this process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import threading

import grpc
import pytest
from asgiref.sync import sync_to_async
from clarifai_grpc.channel import clarifai_channel
from clarifai_grpc.grpc.api import service_pb2_grpc
from django.db import connections

from orchestration.accounts.models import AccessToken
from orchestration.grpc_api.server import build, tls_credentials


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The SDK reads CLARIFAI_API_BASE once, when it is first imported (the default of its
# User's base_url), as in a user's shell: so the server's port is fixed before that.
PORT = _free_port()
os.environ["CLARIFAI_API_BASE"] = f"http://127.0.0.1:{PORT}"


@contextlib.contextmanager
def _serving(address: str, credentials=None):
    """Run the gRPC server on address in a thread of this process; yield its address."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    async def main():
        server, port = build(address, credentials)
        await server.start()
        holder.update(server=server, port=port)
        holder["stop"] = asyncio.Event()
        started.set()
        await holder["stop"].wait()
        await server.stop(0)
        # The servicer's sync_to_async thread holds a DB connection; close it.
        await sync_to_async(connections.close_all)()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"127.0.0.1:{holder['port']}"
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        loop.close()


@pytest.fixture
def grpc_server(transactional_db):
    """The server's address ("127.0.0.1:PORT"); it shares the test database."""
    with _serving(f"127.0.0.1:{PORT}") as address:
        yield address


@pytest.fixture
def tls_cert(tmp_path):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert path, key path)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def grpc_tls_server(transactional_db, tls_cert):
    """The server with GRPC_TLS_CERT/KEY's credentials on a free port: (address, cert path)."""
    credentials = tls_credentials(str(tls_cert[0]), str(tls_cert[1]))
    with _serving(f"127.0.0.1:{_free_port()}", credentials) as address:
        yield address, tls_cert[0]


@pytest.fixture
def stub(grpc_server):
    # clarifai-grpc's V2Stub reads a module global that its channel factories set.
    clarifai_channel.wrap_response_deserializer = clarifai_channel._response_deserializer_for_grpc
    channel = grpc.insecure_channel(grpc_server)
    yield service_pb2_grpc.V2Stub(channel)
    channel.close()


@pytest.fixture
def owner_key(owner):
    return AccessToken.issue(owner, "grpc")[1]


@pytest.fixture
def other_key(other_user):
    return AccessToken.issue(other_user, "grpc")[1]
