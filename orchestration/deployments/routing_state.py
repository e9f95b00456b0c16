"""Tell the predict routers that a deployment's ready replicas changed, or a key was revoked.

Routers keep each deployment's ready replicas, and the keys they have checked, in memory
and refresh them after a short time-to-live; when Redis is configured, a published message
refreshes them at once.
"""

from __future__ import annotations

import logging
from functools import cache

from django.conf import settings

log = logging.getLogger(__name__)
CHANNEL = "orchestration:routing"
KEYS_CHANNEL = "orchestration:keys"


def redis_client():
    """The shared Redis client, or None when REDIS_URL is not set."""
    return _redis()


@cache
def _redis():
    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def changed(deployment_id: int) -> None:
    _publish(CHANNEL, str(deployment_id))


def key_revoked(token_hash: str) -> None:
    _publish(KEYS_CHANNEL, token_hash)


def _publish(channel: str, message: str) -> None:
    client = _redis()
    if client is None:
        return
    try:
        client.publish(channel, message)
    except Exception as exc:  # noqa: BLE001 - routers still refresh on their TTL
        log.warning("could not publish on %s: %s", channel, exc)
