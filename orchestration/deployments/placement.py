"""Placement: which node of a nodepool gets a replica (best fit, so replicas pack tightly)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.quantities import format_cpu, format_memory


@dataclass(frozen=True)
class NodeRoom:
    node_id: int
    name: str
    free_cpu: float
    free_memory: int


@dataclass(frozen=True)
class Placement:
    node_id: int | None
    reason: str = ""


def choose_node(rooms: list[NodeRoom], cpu: float, memory: int) -> Placement:
    """The fitting node with the least room left, or why none fits.

    Best fit fills the busiest node first, which keeps whole nodes free for large
    replicas and lets an operator drain empty nodes.
    """
    fitting = [r for r in rooms if r.free_cpu + 1e-9 >= cpu and r.free_memory >= memory]
    if fitting:
        best = min(fitting, key=lambda r: (r.free_cpu - cpu, r.free_memory - memory, r.name))
        return Placement(best.node_id)
    need = f"needs {format_cpu(cpu)} CPU, {format_memory(memory)}"
    if not rooms:
        return Placement(None, f"nodepool full: {need}; no ready node in the nodepool")
    largest = max(rooms, key=lambda r: (r.free_cpu, r.free_memory))
    return Placement(
        None,
        f"nodepool full: {need}; largest free: {format_cpu(max(largest.free_cpu, 0))} CPU, "
        f"{format_memory(max(largest.free_memory, 0))} on {largest.name}",
    )
