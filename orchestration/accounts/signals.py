"""What accounts tell the apps above them (deployments listen; accounts import none)."""

from django.dispatch import Signal

# Keys were revoked (token_hashes=[...]), after the transaction committed: the predict
# routers that cache checked keys must forget them at once.
keys_revoked = Signal()
