"""Accelerators as capacity, as pure functions: the engine's inventory, device
accounting, packing, sharing, type matching and the reasons a replica stays pending."""

from __future__ import annotations

import pytest

from orchestration.deployments.placement import (
    NodeRoom,
    PoolRules,
    choose_devices,
    choose_node,
    normalize_type,
    type_matches,
    wanted_types,
)
from orchestration.nodepools.accelerators import engine_inventory, node_device_ids

GB = 1024**3
GPU_POOL = PoolRules(name="gpu-pool", accelerator_type="NVIDIA A10G", accelerators=2)


def room(pk, devices=(), cpu=4.0, memory=8 * GB, kind="NVIDIA A10G", name=None):
    return NodeRoom(pk, name or f"n{pk}", cpu, memory, kind, tuple(devices))


def idle(*ids):
    return tuple((d, 0) for d in ids)


# -- the engine's inventory ---------------------------------------------------------------


def test_cdi_devices_give_the_ids_by_index_without_all_or_uuid_duplicates():
    found = engine_inventory(
        0,
        ["runc", "nvidia"],
        ["nvidia.com/gpu=1", "nvidia.com/gpu=GPU-aa", "nvidia.com/gpu=0", "nvidia.com/gpu=all"],
    )
    assert (found.count, found.device_ids, found.driver) == (2, ("0", "1"), "nvidia")


def test_uuids_when_the_spec_names_no_indexes():
    found = engine_inventory(4, [], ["nvidia.com/gpu=GPU-b", "nvidia.com/gpu=GPU-a"])
    assert found.device_ids == ("GPU-b", "GPU-a") and found.count == 2


def test_nothing_reported_keeps_the_configured_count_and_indexes():
    found = engine_inventory(3, ["runc"], ["example.com/fpga=0"])
    assert (found.count, found.device_ids, found.driver) == (3, (), "")
    assert engine_inventory(2, ["nvidia", "runc"], []).driver == "nvidia"
    assert node_device_ids(3, []) == ["0", "1", "2"]
    assert node_device_ids(3, ["GPU-a"]) == ["GPU-a"]


# -- types ------------------------------------------------------------------------------


def test_types_are_matched_loosely_and_by_glob():
    assert normalize_type(" NVIDIA A10G ") == "nvidia-a10g" == normalize_type("nvidia_a10g")
    assert wanted_types(["NVIDIA-A10G", "nvidia a10g", 3]) == ("nvidia-a10g",)
    assert wanted_types("NVIDIA-L4") == ("nvidia-l4",) and wanted_types(None) == ()
    assert type_matches(("nvidia-a10g",), "NVIDIA A10G")
    assert type_matches(("nvidia-*",), "NVIDIA L4")
    assert not type_matches(("nvidia-a10g",), "NVIDIA T4")
    assert not type_matches(("nvidia-a10g",), "")
    assert type_matches((), "")


# -- devices on one node -----------------------------------------------------------------


def test_exclusive_devices_pack_onto_the_lowest_idle_ones():
    devices = (("0", 1), ("1", 0), ("2", 0), ("3", 0))
    assert choose_devices(devices, 2, sharing=False) == ("1", "2")
    assert choose_devices(devices, 4, sharing=False) is None
    assert choose_devices(devices, 0, sharing=False) == ()


def test_shared_devices_go_to_the_least_held():
    devices = (("0", 2), ("1", 1), ("2", 1))
    assert choose_devices(devices, 1, sharing=True) == ("1",)
    assert choose_devices(devices, 2, sharing=True) == ("1", "2")
    assert choose_devices(devices, 4, sharing=True) is None


# -- nodes -------------------------------------------------------------------------------


def test_a_replica_gets_specific_free_devices_and_two_never_share_one():
    rooms = [room(1, idle("0", "1"))]
    first = choose_node(rooms, 1, GB, accelerators=1, pool=GPU_POOL)
    assert (first.node_id, first.device_ids) == (1, ("0",))
    # The first replica now holds device 0: the next one gets device 1, then none is left.
    rooms = [room(1, (("0", 1), ("1", 0)))]
    assert choose_node(rooms, 1, GB, accelerators=1, pool=GPU_POOL).device_ids == ("1",)
    full = choose_node([room(1, (("0", 1), ("1", 1)))], 1, GB, accelerators=1, pool=GPU_POOL)
    assert full.node_id is None
    assert full.reason == "needs 1 accelerator; the most free on a node of gpu-pool is 0"


def test_sharing_puts_a_second_replica_on_a_held_device():
    pool = PoolRules(name="gpu-pool", accelerator_type="NVIDIA A10G", accelerators=1, sharing=True)
    placed = choose_node([room(1, (("0", 1),))], 1, GB, accelerators=1, pool=pool)
    assert (placed.node_id, placed.device_ids) == (1, ("0",))


def test_packing_fills_the_node_with_fewest_idle_devices_first():
    rooms = [room(1, idle("0", "1", "2", "3")), room(2, (("0", 1), ("1", 0)))]
    assert choose_node(rooms, 1, GB, accelerators=1, pool=GPU_POOL).node_id == 2


def test_cpu_replicas_leave_gpu_nodes_for_gpu_replicas():
    rooms = [room(1, idle("0"), cpu=4), room(2, (), cpu=4, kind="")]
    placed = choose_node(rooms, 1, GB, pool=GPU_POOL)
    assert (placed.node_id, placed.device_ids) == (2, ())


def test_more_than_any_node_has_stays_pending_with_the_largest_count():
    rooms = [room(1, (("0", 1), ("1", 0))), room(2, (("0", 1), ("1", 1)))]
    placed = choose_node(rooms, 1, GB, accelerators=2, pool=GPU_POOL)
    assert placed.reason == "needs 2 accelerators; the most free on a node of gpu-pool is 1"


def test_devices_free_but_cpu_short_names_the_cpu():
    placed = choose_node([room(1, idle("0"), cpu=0.5)], 1, GB, accelerators=1, pool=GPU_POOL)
    assert placed.node_id is None
    assert placed.reason.startswith("nodepool full: needs 1 CPU, 1Gi, 1 accelerator; largest")


@pytest.mark.parametrize(
    ("pool", "rooms", "reason"),
    [
        (PoolRules(name="cpu"), [room(1, kind="")], "needs 1 nvidia-a10g; nodepool cpu has none"),
        (PoolRules(name="cpu"), [], "needs 1 nvidia-a10g; nodepool cpu has none"),
        (
            PoolRules(name="t4", accelerator_type="NVIDIA T4", accelerators=1),
            [room(1, idle("0"), kind="NVIDIA T4")],
            "needs 1 nvidia-a10g; nodepool t4 has nvidia-t4",
        ),
        (
            GPU_POOL,
            [room(1, idle("0"), kind="NVIDIA T4")],
            "needs 1 nvidia-a10g; the nodes of gpu-pool have nvidia-t4",
        ),
        (
            GPU_POOL,
            [room(1, (), kind="NVIDIA A10G")],
            "needs 1 nvidia-a10g; nodepool gpu-pool has none",
        ),
    ],
)
def test_type_mismatches_say_what_the_nodepool_has(pool, rooms, reason):
    placed = choose_node(
        rooms, 1, GB, accelerators=1, accelerator_types=("nvidia-a10g",), pool=pool
    )
    assert (placed.node_id, placed.reason) == (None, reason)


def test_untyped_need_on_a_cpu_pool_says_it_has_none():
    placed = choose_node([room(1, kind="")], 1, GB, accelerators=1, pool=PoolRules(name="cpu"))
    assert placed.reason == "needs 1 accelerator; nodepool cpu has none"


def test_a_matching_type_among_others_is_chosen():
    rooms = [room(1, idle("0"), kind="NVIDIA T4"), room(2, idle("0", "1"), kind="NVIDIA A10G")]
    placed = choose_node(
        rooms, 1, GB, accelerators=2, accelerator_types=("nvidia-a10g",), pool=GPU_POOL
    )
    assert (placed.node_id, placed.device_ids) == (2, ("0", "1"))


def test_no_ready_node_in_a_gpu_pool_waits_for_one():
    placed = choose_node([], 1, GB, accelerators=1, pool=GPU_POOL)
    assert placed.reason.endswith("no ready node in the nodepool")


def test_cpu_only_placement_is_unchanged():
    rooms = [room(1, cpu=2, kind=""), room(2, cpu=1, kind="")]
    assert choose_node(rooms, 1, GB).node_id == 2
