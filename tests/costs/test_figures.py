"""Cost figures against hand-computed lifetimes (the README's sharing rule)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from orchestration.deployments.costs import (
    ZERO,
    Cost,
    Windows,
    costs_by,
    deployment_cost,
    format_money,
    idle_line,
    summary_for,
    with_month_cost,
)
from orchestration.deployments.models import Deployment, MinReplicaHold, ReplicaState
from tests.costs.conftest import NOW, hours, make_replica

W = Windows.at(NOW)


def D(text: str) -> Decimal:
    return Decimal(text)


def test_two_hours_at_half_a_node_is_one_dollar(priced):
    d, node = priced["deployment"], priced["node"]
    # 2 h at 1.00/h × (1 CPU of 2) = 1.00, ended 10 h ago: inside every window.
    make_replica(d, node, started=NOW - hours(12), stopped=NOW - hours(10))
    assert deployment_cost(d, W) == Cost(day=D("1.0000"), month=D("1.0000"), total=D("1.0000"))


def test_packed_replicas_split_the_node_by_cpu(priced, make_model):
    d, node = priced["deployment"], priced["node"]
    # Two replicas packed on the 2-CPU node for 3 h: each 0.5 of the node, 1.50 each.
    make_replica(d, node, started=NOW - hours(5), stopped=NOW - hours(2))
    make_replica(d, node, started=NOW - hours(5), stopped=NOW - hours(2))
    # A bigger replica of another version asking 4 CPU on the 2-CPU node pays the whole
    # node, no more: 1 h = 1.00.
    _, big = make_model(priced["model"].owner, "sentiment")
    big.cpu_request = D("4")
    big.save(update_fields=["cpu_request"])
    make_replica(d, node, started=NOW - hours(2), stopped=NOW - hours(1), version=big)
    assert deployment_cost(d, W).day == D("4.0000")


def test_default_cpu_when_the_version_names_none(priced, settings):
    settings.REPLICA_DEFAULT_CPU = 0.5
    d, node, version = priced["deployment"], priced["node"], priced["version"]
    version.cpu_request = None
    version.save(update_fields=["cpu_request"])
    make_replica(d, node, started=NOW - hours(4), stopped=NOW)
    assert deployment_cost(d, W).total == D("1.0000")  # 4 h × 1.00 × 0.5/2


def test_running_replica_is_priced_up_to_now(priced):
    d, node = priced["deployment"], priced["node"]
    make_replica(d, node, started=NOW - hours(3))  # ready, no stop time
    assert deployment_cost(d, W).total == D("1.5000")
    # Later, it has cost more.
    later = Windows.at(NOW + hours(1))
    assert deployment_cost(d, later).total == D("2.0000")


def test_windows_cut_at_24_hours_and_the_month_start(priced):
    d, node = priced["deployment"], priced["node"]
    # Lived 30 h up to now, from 2026-11-14 06:00: 24 h in the day window (12.00),
    # all 30 h this month (15.00).
    make_replica(d, node, started=NOW - hours(30), stopped=NOW)
    # Lived across the month start: 2026-10-31 22:00 to 2026-11-01 02:00, 2 h this month.
    make_replica(
        d,
        node,
        started=datetime(2026, 10, 31, 22, tzinfo=UTC),
        stopped=datetime(2026, 11, 1, 2, tzinfo=UTC),
    )
    cost = deployment_cost(d, W)
    assert (cost.day, cost.month, cost.total) == (D("12.0000"), D("16.0000"), D("17.0000"))


def test_month_start_follows_the_time_zone(priced, settings):
    settings.TIME_ZONE = "America/New_York"
    # 2026-11-01 03:00 UTC is still October 31 in New York: the month starts at 04:00 UTC.
    assert Windows.at(NOW).month_start == datetime(2026, 11, 1, 4, tzinfo=UTC)


def test_unplaced_and_removed_node_replicas(priced, make_node):
    d, nodepool = priced["deployment"], priced["nodepool"]
    # Never started and never placed (waiting for capacity): reserved nothing.
    make_replica(d, None, started=NOW - hours(1), state=ReplicaState.PENDING)
    Deployment.objects.get(pk=d.pk).replicas.filter(state="pending").update(started_at=None)
    # Its node is gone: priced on the nodepool's cpu_cores (2): 2 h × 0.5 = 1.00.
    make_replica(d, None, started=NOW - hours(3), stopped=NOW - hours(1))
    # A node whose capacity is not known yet (0) also uses the nodepool's size.
    blank = make_node(nodepool, "node-2", cpu_capacity=D("0"))
    make_replica(d, blank, started=NOW - hours(2), stopped=NOW)
    assert deployment_cost(d, W).total == D("2.0000")
    assert nodepool  # the nodepool priced both


def test_per_nodepool_and_per_owner(
    priced, owner, other_user, make_cluster, make_nodepool, make_node, make_model, make_deployment
):
    d, node = priced["deployment"], priced["node"]
    make_replica(d, node, started=NOW - hours(2), stopped=NOW)  # 1.00
    gpu = make_nodepool(priced["cluster"], "gpu", cpu_cores=D("4"), price_per_hour=D("3.00"))
    gpu_node = make_node(gpu, "gpu-1")
    model, version = make_model(owner, "vision")
    version.cpu_request = D("1")
    version.save(update_fields=["cpu_request"])
    vision = make_deployment(owner, model, version, gpu, "vision")
    make_replica(vision, gpu_node, started=NOW - hours(4), stopped=NOW)  # 4 × 3 × 1/4 = 3.00
    # Another user's deployment on the same node counts only for them.
    theirs_model, theirs_version = make_model(other_user, "other")
    theirs = make_deployment(other_user, theirs_model, theirs_version, priced["nodepool"], "o")
    make_replica(theirs, node, started=NOW - hours(2), stopped=NOW)

    summary = summary_for(owner, W)
    assert summary.owner.total == D("4.0000")
    assert summary.nodepools[priced["nodepool"].pk].total == D("1.0000")
    assert summary.nodepools[gpu.pk].total == D("3.0000")
    assert set(summary.deployments) == {d.pk, vision.pk}
    assert summary_for(other_user, W).owner.total == D("1.0000")
    everyone = costs_by("nodepool", Deployment.objects.all(), W)
    assert everyone[priced["nodepool"].pk].total == D("2.0000")


def test_idle_time_at_min_replicas(priced):
    d, node = priced["deployment"], priced["node"]
    # One replica for the last 10 h (5.00); the minimum alone kept it for 6 of them,
    # from 8 h ago to 2 h ago (3.00), then traffic wanted it.
    make_replica(d, node, started=NOW - hours(10))
    MinReplicaHold.objects.create(deployment=d, at=NOW - hours(8), replicas=1)
    MinReplicaHold.objects.create(deployment=d, at=NOW - hours(2), replicas=0)
    cost = deployment_cost(d, W)
    assert (cost.month, cost.idle_month) == (D("5.0000"), D("3.0000"))
    assert idle_line(cost) == "3.00 USD of 5.00 USD this month was idle time at min replicas"


def test_idle_never_exceeds_the_cost(priced):
    d, node = priced["deployment"], priced["node"]
    # The minimum held 2 replicas for 4 h, but only one ran for 1 h of it.
    make_replica(d, node, started=NOW - hours(1), stopped=NOW)
    MinReplicaHold.objects.create(deployment=d, at=NOW - hours(4), replicas=2)
    cost = deployment_cost(d, W)
    assert cost.idle_day == cost.day == D("0.5000")


def test_no_replicas_costs_nothing(priced):
    assert deployment_cost(priced["deployment"], W) == ZERO
    assert format_money(ZERO.month) == "0.00 USD"


def test_sorting_by_month_cost(priced, owner, make_model, make_deployment):
    d, node = priced["deployment"], priced["node"]
    model, version = make_model(owner, "cheap")
    cheap = make_deployment(owner, model, version, priced["nodepool"], "cheap")
    make_replica(d, node, started=NOW - hours(4), stopped=NOW)
    make_replica(cheap, node, started=NOW - hours(1), stopped=NOW)
    rows = with_month_cost(Deployment.objects.filter(owner=owner), W).order_by("-cost_month")
    assert [(r.slug, round(r.cost_month, 4)) for r in rows] == [("sent", 2.0), ("cheap", 0.5)]
