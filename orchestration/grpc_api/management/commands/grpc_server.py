"""`manage.py grpc_server`: serve Clarifai's gRPC API (clarifai.api.V2) on GRPC_PORT."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand

from orchestration.grpc_api.server import serve, tls_credentials


class Command(BaseCommand):
    help = "Serve Clarifai's gRPC API for the clarifai SDK."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="0.0.0.0")
        parser.add_argument("--port", type=int, default=None)

    def handle(self, *args, host, port, **options):
        tls = tls_credentials(settings.GRPC_TLS_CERT, settings.GRPC_TLS_KEY) is not None
        port = port or settings.GRPC_PORT
        self.stdout.write(f"gRPC V2 on {host}:{port} ({'TLS' if tls else 'plaintext'})")
        asyncio.run(serve(host, port))
