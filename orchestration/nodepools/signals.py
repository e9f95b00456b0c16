"""What nodepools tell the apps above them (deployments listen; nodepools import none)."""

from django.dispatch import Signal

# A node's engine stopped answering (node=...), or answers again after a probe
# (node=..., came_back=True when it was not ready before).
node_unreachable = Signal()
node_ready = Signal()
