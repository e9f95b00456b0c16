"""Database connections on the lean ASGI path, which runs outside Django's request cycle."""

from django.db import close_old_connections, connection


def fresh_connection() -> None:
    """Drop a broken or expired connection before use, as request_started would.

    Never inside a transaction: tests (and callers) that hold one keep their connection.
    """
    if not connection.in_atomic_block:
        close_old_connections()
