"""Product vocabulary from SPEC.md that the Django apps and the `orchestrate` CLI share.

Plain Python that imports nothing, so the CLI can read it without loading Django: the
models, the autoscale policy and the CLI's flags and choices are all built from here.
"""

# (enum member name, stored value, label); CloudProvider's choices are made from this.
CLOUD_PROVIDERS = (
    ("LOCAL", "local", "Local"),
    ("AWS", "aws", "AWS"),
    ("GCP", "gcp", "GCP"),
    ("AZURE", "azure", "Azure"),
    ("ORACLE", "oracle", "Oracle"),
    ("ON_PREM", "on-prem", "On-premises"),
)
CLOUD_PROVIDER_VALUES = tuple(value for _, value, _ in CLOUD_PROVIDERS)

# SPEC.md's autoscale settings (API field name -> default), in the order of its table.
AUTOSCALE_DEFAULTS = {
    "min_replicas": 1,
    "max_replicas": 5,
    "scale_down_delay_seconds": 300,
    "traffic_history_seconds": 300,
    "scale_up_delay_seconds": 300,
    "scale_to_zero_delay_seconds": 1800,
    "target_concurrency": 4,
}

# Connecting to a replica at its container address on this host's bridge takes
# microseconds or never succeeds (a dead container's address waits about 3 s for ARP to
# give up): the router and the health probes stop trying after this long.
BRIDGE_CONNECT_TIMEOUT = 0.5

# Ids of clusters, nodepools, models, deployments and organizations (the URL-safe slugs).
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SLUG_RULE = "Use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit."
