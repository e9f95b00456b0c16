from django.core.management.base import BaseCommand

from orchestration.nodepools.shared import ensure_shared_compute


class Command(BaseCommand):
    help = "Create the built-in `shared` cluster, nodepool and local Docker node (idempotent)."

    def handle(self, *args, **options) -> None:
        nodepool = ensure_shared_compute()
        nodes = ", ".join(f"{n.name} ({n.engine_url})" for n in nodepool.nodes.all())
        self.stdout.write(self.style.SUCCESS(f"Shared compute ready: {nodepool} with {nodes}"))
