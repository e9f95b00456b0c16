"""The orchestration portal.

Deliberately empty: the `orchestrate` CLI imports this package and must not pay for Django
or Celery. The Celery app lives in `orchestration.celery`; `celery -A orchestration` finds
it there by itself, and Django processes load it in `PortalConfig.ready()`.
"""
