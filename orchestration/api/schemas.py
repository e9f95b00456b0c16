"""Request and response bodies of the management API (pydantic, through django-ninja).

Input schemas forbid unknown fields, so a typo (`max_replica`) is a 400 naming the field
instead of a silently ignored setting. Update schemas have every field optional: what is
sent changes, what is left out stays (PATCH semantics; PUT is accepted as a synonym).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from orchestration.clusters.models import SLUG_PATTERN
from orchestration.deployments.models import AUTOSCALE_DEFAULTS
from orchestration.quantities import parse_cpu, parse_memory

MAX_INT = 2**31 - 1  # PositiveIntegerField's range on PostgreSQL
MAX_CPU = Decimal("99999.999")  # DecimalField(max_digits=8, decimal_places=3)
NO_NUL = r"^[^\x00]*$"

Slug = Annotated[
    str,
    StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64),
    Field(
        description="1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit."
    ),
]


def _text(max_length: int, description: str = ""):
    return Annotated[
        str,
        StringConstraints(max_length=max_length, pattern=NO_NUL),
        Field(description=description or None),
    ]


Description = _text(300)
ShortText = _text(64)
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Seconds = Annotated[int, Field(ge=0, le=MAX_INT, description="Seconds.")]


CloudProviderName = Literal["local", "aws", "gcp", "azure", "oracle", "on-prem"]
ENGINE_SCHEMES = ("unix://", "tcp://", "ssh://", "http://", "https://")


def to_cpu(value: object) -> Decimal:
    """CPU cores as stored: a positive Decimal with 3 places, from 2, 0.5 or "500m"."""
    try:
        cores = Decimal(repr(parse_cpu(value)))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    # Check the size first: quantizing a huge number overflows Decimal's precision.
    if cores > MAX_CPU:
        raise ValueError(f"must be at most {MAX_CPU} cores")
    cores = cores.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    if cores <= 0:
        raise ValueError("must be more than 0 (the smallest is 1m, a thousandth of a core)")
    if cores > MAX_CPU:
        raise ValueError(f"must be at most {MAX_CPU} cores")
    return cores


def to_memory(value: object) -> int:
    """Bytes from 8589934592 or "8Gi"; more than 0."""
    try:
        num = parse_memory(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if num <= 0:
        raise ValueError("must be more than 0 bytes")
    return num


CpuInput = Annotated[
    Decimal,
    BeforeValidator(to_cpu),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": 'CPU cores: a number (2, 0.5) or a Kubernetes quantity ("500m", "2").',
        }
    ),
]
MemoryInput = Annotated[
    int,
    BeforeValidator(to_memory),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "description": 'Memory: bytes (8589934592) or a Kubernetes quantity ("8Gi", "512Mi").',
        }
    ),
]


def _engine_url(value: str) -> str:
    value = value.strip()
    if not value.startswith(ENGINE_SCHEMES) or len(value) <= len(value.split("://")[0]) + 3:
        raise ValueError(
            "use a Docker engine URL: unix:///var/run/docker.sock, tcp://host:2376, "
            "ssh://user@host or http(s)://host:port"
        )
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces")
    return value


EngineUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=NO_NUL),
    AfterValidator(_engine_url),
    Field(description="unix:///var/run/docker.sock, or tcp://host:2376 (TLS)."),
]
Address = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00\s]+$"),
    Field(description="Host or IP at which replicas' published ports on this node are reached."),
]


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


# --- errors are in errors.py -------------------------------------------------------------


class MeOut(Schema):
    username: str
    email: str


# --- clusters ----------------------------------------------------------------------------


class ClusterIn(InputSchema):
    """A new cluster: compute in one cloud and region, or one on-premises site."""

    id: Slug
    description: Description = ""
    cloud_provider: CloudProviderName = "local"
    region: ShortText = ""


class ClusterPatch(InputSchema):
    """The cluster fields to change; the others keep their value."""

    description: Description = None  # type: ignore[assignment]
    cloud_provider: CloudProviderName = None  # type: ignore[assignment]
    region: ShortText = None  # type: ignore[assignment]


class ClusterOut(Schema):
    id: str
    description: str
    cloud_provider: str
    region: str
    shared: bool = Field(description="The built-in shared cluster: listed to all, read-only.")
    nodepools: int = Field(description="How many nodepools it has.")
    created_at: datetime
    updated_at: datetime


# --- nodepools ---------------------------------------------------------------------------


class NodepoolIn(InputSchema):
    """A new nodepool: nodes of one instance type (CPU, memory, accelerators, price)."""

    id: Slug
    description: Description = ""
    instance_type: ShortText = "docker-host"
    cpu_cores: CpuInput = Decimal(2)
    memory: MemoryInput = 4 * 1024**3
    accelerators: Count = 0
    accelerator_type: ShortText = ""
    price_per_hour: float = Field(0, ge=0, le=999999.9999, description="USD per node-hour.")
    min_nodes: Count = 0
    max_nodes: Count = 1


class NodepoolPatch(InputSchema):
    """The nodepool fields to change; the others keep their value."""

    description: Description = None  # type: ignore[assignment]
    instance_type: ShortText = None  # type: ignore[assignment]
    cpu_cores: CpuInput = None  # type: ignore[assignment]
    memory: MemoryInput = None  # type: ignore[assignment]
    accelerators: Count = None  # type: ignore[assignment]
    accelerator_type: ShortText = None  # type: ignore[assignment]
    price_per_hour: float = Field(None, ge=0, le=999999.9999)  # type: ignore[assignment]
    min_nodes: Count = None  # type: ignore[assignment]
    max_nodes: Count = None  # type: ignore[assignment]


class NodepoolOut(Schema):
    id: str
    cluster_id: str
    description: str
    instance_type: str
    cpu_cores: float
    memory_bytes: int
    memory: str = Field(description='memory_bytes as a quantity, such as "8Gi".')
    accelerators: int
    accelerator_type: str
    price_per_hour: float
    min_nodes: int
    max_nodes: int
    nodes: int = Field(description="How many nodes it has.")
    deployments: int = Field(description="How many deployments are placed on it.")
    created_at: datetime
    updated_at: datetime


# --- nodes -------------------------------------------------------------------------------


class NodeIn(InputSchema):
    """A Docker engine for the nodepool. Capacity left out is the nodepool's."""

    name: Slug
    engine_url: EngineUrl
    address: Address = "127.0.0.1"
    # Left out: the nodepool's value.
    cpu_capacity: CpuInput = None  # type: ignore[assignment]
    memory_capacity: MemoryInput = None  # type: ignore[assignment]
    accelerators: Count = None  # type: ignore[assignment]


class NodePatch(InputSchema):
    """The node fields to change; the others keep their value."""

    engine_url: EngineUrl = None  # type: ignore[assignment]
    address: Address = None  # type: ignore[assignment]
    cpu_capacity: CpuInput = None  # type: ignore[assignment]
    memory_capacity: MemoryInput = None  # type: ignore[assignment]
    accelerators: Count = None  # type: ignore[assignment]


class NodeOut(Schema):
    name: str
    cluster_id: str
    nodepool_id: str
    engine_url: str
    address: str
    cpu_capacity: float
    memory_capacity_bytes: int
    memory_capacity: str
    accelerators: int
    used_cpu: float = Field(description="CPU that live replicas on the node ask for.")
    used_memory_bytes: int
    status: Literal["unknown", "ready", "unreachable"]
    status_message: str
    engine_version: str
    last_seen: datetime | None
    created_at: datetime


# --- models and versions -----------------------------------------------------------------

BuildStatusName = Literal["queued", "building", "ready", "failed"]


class VersionOut(Schema):
    id: str
    model_id: str
    number: int
    build_status: BuildStatusName
    image: str
    cpu_request: float | None
    memory_request_bytes: int | None
    num_accelerators: int
    config: dict[str, Any]
    created_at: datetime
    build_started_at: datetime | None
    built_at: datetime | None


class VersionDetailOut(VersionOut):
    build_log: str


class VersionSummary(Schema):
    id: str
    number: int
    build_status: BuildStatusName


class ModelOut(Schema):
    id: str
    description: str
    model_type_id: str
    versions: int
    latest_version: VersionSummary | None
    latest_ready_version: VersionSummary | None
    deployments: list[str] = Field(description="Ids of the model's deployments.")
    created_at: datetime
    updated_at: datetime


# --- deployments and replicas ------------------------------------------------------------

_AUTOSCALE_HELP = {
    "min_replicas": "Replicas never go below this; 0 allows scale to zero.",
    "max_replicas": "Replicas never go above this; at least 1 and at least min_replicas.",
    "scale_down_delay_seconds": "How long a lower count must be wanted before removing.",
    "traffic_history_seconds": "Traffic window the autoscaler averages over.",
    "scale_up_delay_seconds": "How long a higher count must be wanted before adding.",
    "scale_to_zero_delay_seconds": "Idle time before the last replica goes (min 0); "
    ">= scale_down_delay_seconds.",
    "target_concurrency": "In-flight requests one replica is meant to carry.",
}


def _autoscale_field(name: str, *, optional: bool):
    low = 1 if name in ("max_replicas", "target_concurrency") else 0
    default = None if optional else AUTOSCALE_DEFAULTS[name]
    return Field(
        default,
        ge=low,
        le=MAX_INT,
        description=f"{_AUTOSCALE_HELP[name]} Default {AUTOSCALE_DEFAULTS[name]}.",
    )


class AutoscaleIn(InputSchema):
    """Any subset of the autoscale settings; the rest keep their default (or current) value."""

    min_replicas: int = _autoscale_field("min_replicas", optional=True)
    max_replicas: int = _autoscale_field("max_replicas", optional=True)
    scale_down_delay_seconds: int = _autoscale_field("scale_down_delay_seconds", optional=True)
    traffic_history_seconds: int = _autoscale_field("traffic_history_seconds", optional=True)
    scale_up_delay_seconds: int = _autoscale_field("scale_up_delay_seconds", optional=True)
    scale_to_zero_delay_seconds: int = _autoscale_field(
        "scale_to_zero_delay_seconds", optional=True
    )
    target_concurrency: int = _autoscale_field("target_concurrency", optional=True)


class AutoscaleOut(Schema):
    min_replicas: int
    max_replicas: int
    scale_down_delay_seconds: int
    traffic_history_seconds: int
    scale_up_delay_seconds: int
    scale_to_zero_delay_seconds: int
    target_concurrency: int


VersionRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$"),
    Field(description="A version id, or its number (1, 2, ...)."),
]


class DeploymentIn(InputSchema):
    """A model version to place on a nodepool, with its autoscale settings."""

    id: Slug
    description: Description = ""
    model_id: Slug
    model_version_id: VersionRef | None = Field(
        None, description="Default: the model's latest ready version."
    )
    cluster_id: Slug
    nodepool_id: Slug
    autoscale_config: AutoscaleIn | None = None


class DeploymentPatch(InputSchema):
    """What to change: description, version, any subset of the autoscale settings."""

    description: Description = None  # type: ignore[assignment]
    model_version_id: VersionRef = None  # type: ignore[assignment]
    autoscale_config: AutoscaleIn = None  # type: ignore[assignment]


ReplicaStateName = Literal["pending", "starting", "ready", "draining", "stopped", "failed"]


class ReplicaOut(Schema):
    id: int
    state: ReplicaStateName
    node: str | None = Field(description="Name of the node it runs on.")
    address: str = Field(description="host:port of the replica's runner.")
    model_version_id: str
    pending_reason: str
    last_error: str
    created_at: datetime
    started_at: datetime | None
    ready_at: datetime | None


DeploymentStatusName = Literal[
    "pending", "deploying", "running", "idle", "degraded", "failed", "deleting"
]


class DeploymentOut(Schema):
    id: str
    description: str
    model_id: str
    model_version_id: str
    model_version_number: int
    cluster_id: str
    nodepool_id: str
    autoscale_config: AutoscaleOut
    desired_replicas: int
    ready_replicas: int
    status: DeploymentStatusName
    status_message: str
    replicas: list[ReplicaOut] = Field(description="Replicas that are not stopped.")
    created_at: datetime
    updated_at: datetime
