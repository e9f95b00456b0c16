"""What the catalog tells the apps above it (deployments listen; the catalog imports none)."""

from django.dispatch import Signal

# A version's image build finished, ready or failed (version_id=...).
version_build_finished = Signal()
