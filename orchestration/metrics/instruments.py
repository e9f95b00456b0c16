"""Every series this install exports, defined once (docs/metrics.md says what each means).

Processes record into these as they work: web workers and the gRPC server (predict
traffic, rate limits), the Celery worker (builds, autoscaler decisions, task failures).
Under the run command every process writes its values into files in
`PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode, chosen by that
variable before this module is imported), and `/metrics` sums them; without it each
process keeps its own. Series read from the database at scrape time (replicas, desired
replicas, node capacity) are in `orchestration.deployments.metrics`, not here.

Deployment series carry `deployment` (its ID), `owner`, `model` and `nodepool`
(`cluster/nodepool`): one deployment has one owner, model and nodepool, so the extra
labels add no series, only ways to sum.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# The `_created` timestamp series only a single process writes (multiprocess mode has
# none): off, so every deployment of the product exports the same series.
disable_created_metrics()

DEPLOYMENT_LABELS = ("deployment", "owner", "model", "nodepool")
# Requests that fail before a deployment is known (bad key, unknown model) carry these.
NO_DEPLOYMENT = ("", "", "", "")

# Predictions: a no-op model answers in about a millisecond through the router; a
# cold start or a slow model takes seconds to a minute (PREDICT_TIMEOUT).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
COLD_START_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0)
BUILD_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)

PREDICT_REQUESTS = Counter(
    "orchestration_predict_requests",
    "Predict requests answered, by HTTP status code and transport (http, grpc, portal).",
    [*DEPLOYMENT_LABELS, "code", "transport"],
)
PREDICT_LATENCY = Histogram(
    "orchestration_predict_latency_seconds",
    "Router side: from a predict request's arrival to its answer, in seconds.",
    [*DEPLOYMENT_LABELS, "transport"],
    buckets=LATENCY_BUCKETS,
)
REPLICA_LATENCY = Histogram(
    "orchestration_replica_latency_seconds",
    "Replica side: from the router sending a request to a replica to the replica's "
    "answer (the model's time plus the hop), in seconds.",
    DEPLOYMENT_LABELS,
    buckets=LATENCY_BUCKETS,
)
PREDICT_IN_FLIGHT = Gauge(
    "orchestration_predict_in_flight",
    "Predict requests being routed or answered now.",
    DEPLOYMENT_LABELS,
    multiprocess_mode="livesum",
)
COLD_STARTS = Counter(
    "orchestration_cold_starts",
    "Cold starts: a request found no ready replica and asked for one.",
    DEPLOYMENT_LABELS,
)
COLD_START_WAIT = Histogram(
    "orchestration_cold_start_wait_seconds",
    "How long requests waited for a replica of a deployment that had none ready.",
    DEPLOYMENT_LABELS,
    buckets=COLD_START_BUCKETS,
)
MODEL_INPUTS = Counter(
    "orchestration_model_inputs",
    "Inputs answered by the model (predictions only, not streams).",
    DEPLOYMENT_LABELS,
)
MODEL_CALLS = Counter(
    "orchestration_model_calls",
    "Model calls those inputs made up: with dynamic batching a request is a share of a "
    "call. inputs / calls is the average batch size.",
    DEPLOYMENT_LABELS,
)
RATE_LIMITED = Counter(
    "orchestration_rate_limited",
    "Requests refused with 429 by a rate limit (predict or the management API).",
    ["limit"],
)
AUTOSCALER_DECISIONS = Counter(
    "orchestration_autoscaler_decisions",
    "Autoscaler evaluations of a deployment, by the kind of decision taken.",
    ["reason"],
)
IMAGE_BUILDS = Counter(
    "orchestration_image_builds",
    "Model image builds finished, by outcome (ready, failed).",
    ["outcome"],
)
IMAGE_BUILD_SECONDS = Histogram(
    "orchestration_image_build_seconds",
    "How long model image builds took, by outcome.",
    ["outcome"],
    buckets=BUILD_BUCKETS,
)
TASK_FAILURES = Counter(
    "orchestration_celery_task_failures",
    "Celery tasks that ended in an exception, by task name.",
    ["task"],
)
