"""Placement: which node of a nodepool gets a replica, and which of its accelerator
devices (best fit, so replicas pack tightly)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestration.quantities import format_cpu, format_memory


@dataclass(frozen=True)
class NodeRoom:
    node_id: int
    name: str
    free_cpu: float
    free_memory: int
    # The node's accelerator type (its own, else its nodepool's).
    accelerator_type: str = ""
    # Each accelerator device of the node, in the node's order, with how many live
    # replicas hold it.
    devices: tuple[tuple[str, int], ...] = ()

    @property
    def idle_devices(self) -> list[str]:
        return [device for device, holders in self.devices if holders == 0]


@dataclass(frozen=True)
class PoolRules:
    """What placement needs to know of the nodepool itself."""

    name: str = ""
    accelerator_type: str = ""
    accelerators: int = 0  # per node, as configured
    sharing: bool = False  # several replicas may hold one device


@dataclass(frozen=True)
class Placement:
    node_id: int | None
    reason: str = ""
    device_ids: tuple[str, ...] = ()


def normalize_type(name: str) -> str:
    """ "NVIDIA A10G", "nvidia_a10g" and "NVIDIA-A10G" are one type: nvidia-a10g."""
    return re.sub(r"[\s_]+", "-", name.strip()).lower()


def wanted_types(config_value: object) -> tuple[str, ...]:
    """config.yaml's accelerator_type (text or a list of text), normalized; () for any."""
    if isinstance(config_value, str):
        values = [config_value]
    elif isinstance(config_value, list):
        values = [v for v in config_value if isinstance(v, str)]
    else:
        values = []
    return tuple(t for t in dict.fromkeys(normalize_type(v) for v in values) if t)


def type_matches(wanted: Sequence[str], have: str) -> bool:
    """Whether a device type satisfies the wanted ones; Clarifai configs use globs
    such as NVIDIA-*. Nothing wanted matches any type."""
    if not wanted:
        return True
    have = normalize_type(have)
    return bool(have) and any(fnmatch.fnmatchcase(have, pattern) for pattern in wanted)


def choose_devices(devices: Sequence[tuple[str, int]], count: int, sharing: bool):
    """`count` devices for a new replica, or None when the node has too few free.

    Without sharing only idle devices qualify, lowest first, so replicas pack onto the
    first devices. With sharing the least-held devices are taken, spreading replicas.
    """
    if count <= 0:
        return ()
    if not sharing:
        idle = [device for device, holders in devices if holders == 0]
        return tuple(idle[:count]) if len(idle) >= count else None
    if len(devices) < count:
        return None
    order = {device: i for i, (device, _) in enumerate(devices)}
    least = sorted(devices, key=lambda d: (d[1], order[d[0]]))[:count]
    return tuple(sorted((device for device, _ in least), key=order.__getitem__))


def describe_need(count: int, types: Sequence[str]) -> str:
    if types:
        return f"{count} {' or '.join(types)}"
    return f"{count} accelerator{'s' if count != 1 else ''}"


def choose_node(
    rooms: list[NodeRoom],
    cpu: float,
    memory: int,
    accelerators: int = 0,
    accelerator_types: Sequence[str] = (),
    pool: PoolRules | None = None,
) -> Placement:
    """The fitting node with the least room left (and the devices it gives), or why
    none fits.

    Best fit fills the busiest node first, which keeps whole nodes free for large
    replicas and lets an operator drain empty nodes. A replica without accelerators
    prefers nodes with fewer idle devices, leaving GPU nodes' CPU to GPU replicas.
    """
    pool = pool or PoolRules()
    if accelerators > 0:
        refusal = _pool_refusal(rooms, accelerators, accelerator_types, pool)
        if refusal:
            return Placement(None, refusal)
        rooms = [r for r in rooms if type_matches(accelerator_types, r.accelerator_type)]

    fitting: list[tuple[NodeRoom, tuple[str, ...]]] = []
    with_devices: list[NodeRoom] = []
    for room in rooms:
        devices = choose_devices(room.devices, accelerators, pool.sharing)
        if devices is None:
            continue
        with_devices.append(room)
        if room.free_cpu + 1e-9 >= cpu and room.free_memory >= memory:
            fitting.append((room, devices))
    if fitting:
        room, devices = min(
            fitting,
            key=lambda f: (
                len(f[0].idle_devices) - len(set(f[1]) & set(f[0].idle_devices)),
                f[0].free_cpu - cpu,
                f[0].free_memory - memory,
                f[0].name,
            ),
        )
        return Placement(room.node_id, device_ids=devices)

    need = f"needs {format_cpu(cpu)} CPU, {format_memory(memory)}"
    if accelerators > 0:
        need += f", {describe_need(accelerators, accelerator_types)}"
    if not rooms:
        return Placement(None, f"nodepool full: {need}; no ready node in the nodepool")
    if accelerators > 0 and not with_devices:
        most = max(len(r.devices) if pool.sharing else len(r.idle_devices) for r in rooms)
        where = f" of {pool.name}" if pool.name else ""
        return Placement(
            None,
            f"needs {describe_need(accelerators, accelerator_types)}; "
            f"the most free on a node{where} is {most}",
        )
    largest = max(with_devices, key=lambda r: (r.free_cpu, r.free_memory))
    return Placement(
        None,
        f"nodepool full: {need}; largest free: {format_cpu(max(largest.free_cpu, 0))} CPU, "
        f"{format_memory(max(largest.free_memory, 0))} on {largest.name}",
    )


def _pool_refusal(rooms: list[NodeRoom], count: int, types: Sequence[str], pool: PoolRules) -> str:
    """Why no node of this nodepool can ever hold the replica, or "" when one might."""
    label = describe_need(count, types)
    name = pool.name or "this nodepool"
    if types and not type_matches(types, pool.accelerator_type):
        if pool.accelerators == 0 or not pool.accelerator_type:
            return f"needs {label}; nodepool {name} has none"
        return f"needs {label}; nodepool {name} has {normalize_type(pool.accelerator_type)}"
    if not rooms:
        return "" if pool.accelerators else f"needs {label}; nodepool {name} has none"
    if not any(r.devices for r in rooms):
        return f"needs {label}; nodepool {name} has none"
    if types and not any(r.devices and type_matches(types, r.accelerator_type) for r in rooms):
        found = sorted(
            {normalize_type(r.accelerator_type) or "untyped" for r in rooms if r.devices}
        )
        return f"needs {label}; the nodes of {name} have {', '.join(found)}"
    return ""
