"""manage.py watch_engines: replace a dead replica as soon as its engine says it died."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from orchestration.deployments import actions, engine_watch


class Command(BaseCommand):
    help = (
        "Follow every node engine's container events and reconcile a deployment whose replica died."
    )

    def handle(self, *args, **options) -> None:
        on_death = engine_watch.Coalescer(actions.request_reconcile, engine_watch.COALESCE_SECONDS)
        self.stdout.write("watching the node engines' container events")
        engine_watch.run_forever(on_death)
