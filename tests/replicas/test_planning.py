"""The replica planning rules, as a pure function: no database, clock or Docker."""

from __future__ import annotations

from orchestration.deployments.planning import LiveReplica, ReplicaPlan, plan_replicas


def r(pk, state="ready", current=True, at=None):
    return LiveReplica(pk, state, current, float(at if at is not None else pk))


def test_scale_up_creates_the_missing_replicas():
    assert plan_replicas(3, [r(1)]) == ReplicaPlan(create=2, remove=())
    assert plan_replicas(2, []) == ReplicaPlan(create=2, remove=())


def test_steady_state_does_nothing():
    assert plan_replicas(2, [r(1), r(2, "starting")]) == ReplicaPlan(create=0, remove=())


def test_scale_in_takes_not_ready_ones_first_then_the_newest():
    live = [r(1), r(2), r(3, "pending"), r(4)]
    assert plan_replicas(2, live).remove == (3, 4)
    assert plan_replicas(0, live).remove == (3, 4, 2, 1)


def test_rollover_surges_by_one_and_drains_only_after_a_new_one_is_ready():
    old = [r(1, current=False), r(2, current=False)]
    # Nothing new ready yet: start one new replica, keep both old ones serving.
    assert plan_replicas(2, old) == ReplicaPlan(create=1, remove=())
    # One new replica starting: wait for it.
    assert plan_replicas(2, [*old, r(3, "starting")]) == ReplicaPlan(create=0, remove=())
    # It is ready: one old one drains (the oldest) and the next new one starts.
    assert plan_replicas(2, [*old, r(3)]) == ReplicaPlan(create=1, remove=(1,))
    # Both new ones ready: the last old one goes.
    assert plan_replicas(2, [old[1], r(3), r(4)]) == ReplicaPlan(create=0, remove=(2,))


def test_outdated_replicas_that_are_not_ready_go_at_once():
    live = [r(1, current=False), r(2, "pending", current=False), r(3, "starting", current=False)]
    plan = plan_replicas(2, live)
    assert set(plan.remove) == {2, 3}
    assert plan.create == 1


def test_the_only_ready_old_replica_keeps_serving_while_its_successor_starts():
    live = [r(1, current=False), r(2, "pending", current=False), r(3, "starting", current=False)]
    assert 1 not in plan_replicas(2, live).remove
