"""A node's accelerator inventory: what its engine reports, else what it is configured with.

Pure functions of what `docker info` answered, so the rules are tested without an engine
(tests/replicas/test_accelerator_placement.py).

Docker reports GPUs only indirectly: `Runtimes` holds `nvidia` when the NVIDIA container
toolkit registered its runtime, and engines with CDI enabled (Docker 28+) list
`DiscoveredDevices` such as `{"Source": "cdi", "ID": "nvidia.com/gpu=0"}`. Engines that
report neither can still run GPU containers (device requests need only the toolkit's
hook), so the node's configured count stands then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NVIDIA = "nvidia"
# The most accelerator devices one node (or a nodepool's node type) may have: the largest
# servers carry 8-16 GPUs. A bound, because the devices are listed one by one ("0".."n-1").
MAX_ACCELERATORS = 64
NVIDIA_GPU_KIND = "nvidia.com/gpu"
_INDEX = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Inventory:
    count: int
    device_ids: tuple[str, ...]  # () when the engine named no devices
    driver: str  # "nvidia" when the engine showed NVIDIA support, else ""


def engine_inventory(
    configured: int, runtimes: Iterable[str], discovered: Iterable[str]
) -> Inventory:
    """The node's devices from the engine's report, else its configured count.

    `discovered` are CDI device names (`vendor/class=name`). NVIDIA's generated spec
    names each GPU twice, by index and by UUID, plus `all`; the indexes are kept when
    there are any (the order nvidia-smi lists), else the UUIDs.
    """
    names = [d.split("=", 1)[1] for d in discovered if d.startswith(NVIDIA_GPU_KIND + "=")]
    names = [n for n in dict.fromkeys(names) if n and n != "all"]
    indexes = sorted((n for n in names if _INDEX.match(n)), key=int)
    ids = tuple(indexes or names)
    driver = NVIDIA if ids or NVIDIA in set(runtimes) else ""
    if ids:
        return Inventory(len(ids), ids, driver)
    return Inventory(configured, (), driver)


def node_device_ids(count: int, reported: Sequence[str] | None) -> list[str]:
    """The ids device requests name: the reported ones, else the indexes "0".."count-1"."""
    if reported:
        return [str(d) for d in reported[:MAX_ACCELERATORS]]
    return [str(i) for i in range(min(count, MAX_ACCELERATORS))]
