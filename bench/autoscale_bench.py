"""Benchmark: one autoscaler tick over 1,000 and 10,000 deployments, against a naive loop.

Run: .venv/bin/python bench/autoscale_bench.py [--deployments 1000 10000] [--naive-max 1000]
Uses the server of DATABASE_URL (PostgreSQL recommended) but never its database: like
Django's test runner it creates a scratch database beside it (`test_<name>`), migrates it
and drops it at the end. The rows are committed and the tables analyzed before timing, as
a running install's are (autovacuum): rows of one's own open transaction and tables
without statistics time the planner's guesses, not the tick (a rolled-back run took
three times as long for the same query). The naive per-deployment loop runs only up to
--naive-max deployments (at 10,000 it takes minutes).
Goals (issue 14): <= 100 ms at 1,000, <= 1 s at 10,000, the same number of queries.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestration.settings")

from orchestration.var_dir import default_var_dir, prepare  # noqa: E402

prepare(default_var_dir())

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from orchestration.autoscaling.policy import Decision, TrafficPoint, decide  # noqa: E402
from orchestration.catalog.models import Model, ModelVersion  # noqa: E402
from orchestration.clusters.models import Cluster  # noqa: E402
from orchestration.deployments.autoscale import evaluate_all, settings_of  # noqa: E402
from orchestration.deployments.models import Deployment, ScalingDecision  # noqa: E402
from orchestration.deployments.models import TrafficSample as Row  # noqa: E402
from orchestration.nodepools.models import Nodepool  # noqa: E402


def populate(n: int, now) -> None:
    user = get_user_model().objects.create_user("bench-autoscale")
    cluster = Cluster.objects.create(owner=user, slug="bench")
    pool = Nodepool.objects.create(cluster=cluster, slug="bench")
    models = Model.objects.bulk_create(Model(owner=user, slug=f"m{i}") for i in range(n))
    versions = ModelVersion.objects.bulk_create(
        ModelVersion(model=m, number=1, version_id=f"v{i}", content_hash="0", build_status="ready")
        for i, m in enumerate(models)
    )
    deployments = Deployment.objects.bulk_create(
        Deployment(
            owner=user, slug=f"d{i}", model=m, model_version=v, nodepool=pool, desired_replicas=1
        )
        for i, (m, v) in enumerate(zip(models, versions, strict=True))
    )
    Deployment.objects.filter(owner=user).update(created_at=now - timedelta(hours=1))
    # Five minutes of 5-second samples each, and a decision history.
    Row.objects.bulk_create(
        (
            Row(
                deployment=d,
                at=now - timedelta(seconds=s),
                interval_seconds=5,
                requests=3,
                in_flight=float(i % 12),
            )
            for i, d in enumerate(deployments)
            for s in range(0, 300, 5)
        ),
        batch_size=5000,
    )
    ScalingDecision.objects.bulk_create(
        ScalingDecision(
            deployment=d, at=now - timedelta(seconds=400), wanted=1, applied=1, reason="hold"
        )
        for d in deployments
    )


def naive(now) -> int:
    """The obvious loop: a few queries per deployment."""
    changed = 0
    t = now.timestamp()
    for d in Deployment.objects.all():
        config = settings_of(d)
        traffic = [
            TrafficPoint(r.at.timestamp(), r.in_flight, r.requests)
            for r in d.traffic.filter(at__gt=now - timedelta(seconds=2000)).order_by("at")
        ]
        history = [
            Decision(x.at.timestamp(), x.wanted, x.applied, x.reason)
            for x in d.decisions.order_by("at")
        ]
        decision = decide(config, t, d.desired_replicas, traffic, history)
        changed += decision.applied != d.desired_replicas
    return changed


GOALS_MS = {1000: 100, 10000: 1000}


def analyze() -> None:
    """Statistics for the planner, as autovacuum keeps them on a running install."""
    tables = [m._meta.db_table for m in (Deployment, Row, ScalingDecision, ModelVersion)]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # VACUUM also sets the visibility hints a long-running table has.
            for table in tables:
                cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            cursor.execute("ANALYZE")


def measure(n: int, rounds: int, naive_max: int) -> None:
    now = timezone.now()
    ours, base = [], []
    queries = naive_queries = 0
    with transaction.atomic():
        populate(n, now)
    analyze()
    for r in range(rounds):
        # Each round's decisions are rolled back, so every round decides the same input.
        with transaction.atomic():
            reset_queries()  # the log keeps 9,000: the naive loop's would shift its indexes
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                evaluate_all(now + timedelta(seconds=r))
                ours.append(time.perf_counter() - start)
            queries = len(ctx.captured_queries)
            transaction.set_rollback(True)
        if n <= naive_max:
            reset_queries()
            with CaptureQueriesContext(connection) as naive_ctx:
                start = time.perf_counter()
                naive(now + timedelta(seconds=r))
                base.append(time.perf_counter() - start)
            naive_queries = len(naive_ctx.captured_queries)
    call_command("flush", interactive=False, verbosity=0)  # the scratch database only
    print("rounds (ms):", " ".join(f"{x * 1000:.0f}" for x in ours))
    best = min(ours)
    median = sorted(ours)[len(ours) // 2]
    goal = GOALS_MS.get(n)
    verdict = ""
    if goal:
        verdict = f" (goal <= {goal} ms: {'met' if median * 1000 <= goal else 'NOT met'})"
    print(f"database: {connection.vendor}; deployments: {n}; rounds: {rounds}")
    print(
        f"one tick (evaluate_all): median {median * 1000:.0f} ms, best {best * 1000:.0f} ms"
        f"{verdict}, {queries} queries"
    )
    if base:
        best_base = min(base)
        print(f"naive per-deployment loop: {best_base * 1000:.0f} ms, {naive_queries} queries")
        print(f"speed-up vs naive: {best_base / best:.1f}x")
    else:
        print(f"naive per-deployment loop: skipped (over --naive-max {naive_max})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--naive-max", type=int, default=1000)
    args = parser.parse_args()
    original = connection.settings_dict["NAME"]
    scratch = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    print(f"scratch database: {scratch} (dropped at the end)")
    try:
        for n in args.deployments:
            measure(n, args.rounds, args.naive_max)
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)


if __name__ == "__main__":
    main()
