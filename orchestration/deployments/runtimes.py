"""Which runtime runs a deployment: its nodepool's (docker or swarm; docs/runtimes.md).

The rest of the product asks for a reconcile or a deletion and does not know which
backend acts: `docker` is this project's own placement over the nodepool's engines
(reconcile.py, lifecycle.py), `swarm` a Swarm service (runtime_swarm.py). A third
backend is one more module with these two functions and a line here.
"""

from __future__ import annotations

from orchestration.deployments import lifecycle, reconcile, runtime_swarm
from orchestration.deployments.models import Deployment
from orchestration.deployments.reconcile import Outcome
from orchestration.nodepools.models import Runtime


def _runtime_of(deployment_id: int) -> str | None:
    return (
        Deployment.objects.filter(pk=deployment_id)
        .values_list("nodepool__runtime", flat=True)
        .first()
    )


def reconcile_deployment(deployment_id: int) -> Outcome | None:
    """Make the deployment's replicas match its desired count; what to queue next."""
    if _runtime_of(deployment_id) == Runtime.SWARM:
        return runtime_swarm.reconcile(deployment_id)
    return reconcile.reconcile(deployment_id)


def delete_deployment(deployment_id: int) -> None:
    """Stop every replica of the deployment, then delete its row."""
    if _runtime_of(deployment_id) == Runtime.SWARM:
        runtime_swarm.delete(deployment_id)
    else:
        lifecycle.delete(deployment_id)
