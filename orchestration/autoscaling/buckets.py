"""Traffic buckets: the one rule that puts a traffic sample into a time bucket.

The autoscaler's input and the deployment page's traffic chart both sum samples per
bucket, and must agree on which bucket a sample falls in. A sample is written when a web
process flushes, so it covers the interval before its timestamp: it belongs to the bucket
that ends at or after it.
"""

from __future__ import annotations

import math

BUCKET_SECONDS = 5.0


def bucket_end(at: float, size: float = BUCKET_SECONDS) -> float:
    """The end of the bucket holding a sample taken at `at` (epoch seconds)."""
    # The database's epoch arithmetic may be off by microseconds: snap to milliseconds,
    # so a sample flushed on a boundary does not slip into the next bucket.
    return math.ceil(round(float(at), 3) / size) * size
