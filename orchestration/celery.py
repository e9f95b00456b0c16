"""The Celery application: settings under the CELERY namespace, tasks autodiscovered."""

import os

from celery import Celery
from celery.signals import task_failure
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")

app = Celery("orchestration")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The schedule is data: the task name, how often, and where its interval is configured.
BEAT_SCHEDULE = {
    "probe-nodes": ("orchestration.nodepools.tasks.probe_all_nodes", "NODE_PROBE_INTERVAL"),
    "reconcile-all": ("orchestration.deployments.tasks.reconcile_all", "RECONCILE_INTERVAL"),
    "autoscale": ("orchestration.deployments.tasks.autoscale_all", "AUTOSCALE_INTERVAL"),
    "prune-history": ("orchestration.deployments.tasks.prune_history", "PRUNE_INTERVAL"),
}


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = {
        name: {"task": task, "schedule": getattr(settings, interval)}
        for name, (task, interval) in BEAT_SCHEDULE.items()
    }


@task_failure.connect
def _count_failure(sender=None, **kwargs) -> None:
    from orchestration.metrics.instruments import TASK_FAILURES

    TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()
