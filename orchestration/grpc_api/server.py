"""The gRPC server: V2 on GRPC_PORT, TLS when GRPC_TLS_CERT and GRPC_TLS_KEY are set."""

from __future__ import annotations

import grpc
from clarifai_grpc.grpc.api import service_pb2_grpc
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .servicer import V2

MAX_MESSAGE_BYTES = 128 * 1024 * 1024


def tls_credentials(cert: str, key: str) -> grpc.ServerCredentials | None:
    """Server credentials from PEM files; None for plaintext (neither set)."""
    if not cert and not key:
        return None
    if not (cert and key):
        raise ImproperlyConfigured("Set both GRPC_TLS_CERT and GRPC_TLS_KEY, or neither.")
    try:
        with open(cert, "rb") as f:
            chain = f.read()
        with open(key, "rb") as f:
            private = f.read()
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read the gRPC TLS files: {exc}") from None
    return grpc.ssl_server_credentials([(private, chain)])


def build(address: str, credentials: grpc.ServerCredentials | None = None) -> tuple:
    """An unstarted grpc.aio server with V2 bound to address; returns (server, port)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    service_pb2_grpc.add_V2Servicer_to_server(V2(), server)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    return server, port


async def serve(host: str = "0.0.0.0", port: int | None = None) -> None:
    credentials = tls_credentials(settings.GRPC_TLS_CERT, settings.GRPC_TLS_KEY)
    server, _ = build(f"{host}:{port or settings.GRPC_PORT}", credentials)
    await server.start()
    await server.wait_for_termination()
