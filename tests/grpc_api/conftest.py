"""A live gRPC server (orchestration.grpc_api) on a free port, in a thread of this process."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import grpc
import pytest
from asgiref.sync import sync_to_async
from clarifai_grpc.channel import clarifai_channel
from clarifai_grpc.grpc.api import service_pb2_grpc
from django.db import connections

from orchestration.accounts.models import AccessToken
from orchestration.grpc_api.server import build


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The SDK reads CLARIFAI_API_BASE once, when it is first imported (the default of its
# User's base_url), as in a user's shell: so the server's port is fixed before that.
PORT = _free_port()
os.environ["CLARIFAI_API_BASE"] = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def grpc_server(transactional_db):
    """The server's address ("127.0.0.1:PORT"); it shares the test database."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    async def main():
        server, port = build(f"127.0.0.1:{PORT}")
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
    yield f"127.0.0.1:{holder['port']}"
    loop.call_soon_threadsafe(holder["stop"].set)
    thread.join(10)
    loop.close()


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
