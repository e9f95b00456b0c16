"""Request and response bodies of the management API (pydantic, through django-ninja).

Input schemas forbid unknown fields, so a typo (`max_replica`) is a 400 naming the field
instead of a silently ignored setting. The OpenAPI schema states every limit the server
enforces (ranges, patterns, strict types: `false` is not the number 0), so a request that
is valid by the schema is accepted and one that is not is refused; the fuzz suite
(tests/api/test_fuzz.py) holds the two to each other. Update schemas have every field
optional: what is sent changes, what is left out stays (PATCH semantics; PUT is accepted
as a synonym).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from orchestration.clusters.models import SLUG_PATTERN
from orchestration.deployments.models import AUTOSCALE_DEFAULTS
from orchestration.nodepools.accelerators import MAX_ACCELERATORS
from orchestration.nodepools.forms import (
    MANAGER_URL_PATTERN,
    MAX_NODE_LABELS,
    manager_url_problem,
    node_label_problem,
)
from orchestration.quantities import MAX_MEMORY_BYTES, parse_cpu, parse_memory

MAX_INT = 2**31 - 1  # PositiveIntegerField's range on PostgreSQL
MAX_CPU = Decimal("99999.999")  # DecimalField(max_digits=8, decimal_places=3)
MIN_CPU = Decimal("0.001")  # one millicore: the smallest step the column stores
NO_NUL = r"^[^\x00]*$"

Slug = Annotated[
    str,
    StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=64),
    Field(
        description="1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit."
    ),
]


def _text(max_length: int, description: str = "", min_length: int = 0):
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_NUL),
        Field(description=description or None),
    ]


Description = _text(300)
ShortText = _text(64)
InstanceType = _text(64, "The kind of node, such as t3.large.", min_length=1)


def _whole_number(value: object) -> object:
    """A JSON integer as the schema means it: 3 or 3.0, never true/false or "3"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise PydanticCustomError("int_from_float", "Input should be a whole number")
        return int(value)
    return value


# No bool or string coercion: `false` is not the number 0, as the schema's "integer" says.
# (The bounds go on the int itself, before the validator, so the schema states them.)
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Count = Annotated[int, Field(ge=0, le=MAX_INT), BeforeValidator(_whole_number)]
AcceleratorCount = Annotated[
    int,
    Field(ge=0, le=MAX_ACCELERATORS, description="Accelerator devices per node."),
    BeforeValidator(_whole_number),
]
Seconds = Annotated[
    int, Field(ge=0, le=MAX_INT, description="Seconds."), BeforeValidator(_whole_number)
]


CloudProviderName = Literal["local", "aws", "gcp", "azure", "oracle", "on-prem"]
ENGINE_SCHEMES = ("unix://", "tcp://", "ssh://", "http://", "https://")


# Quantities as strings, in the forms the schema states (and nothing else):
# cores 1 to 99999.999 with up to 3 decimals ("2", "0.5"), or millicores 1m to 99999999m;
CPU_STRING = (
    r"(?:[1-9][0-9]{0,4}(?:\.[0-9]{1,3})?"
    r"|0?\.(?:[1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9])"
    r"|[1-9][0-9]{0,7}m)"
)
# bytes 1 to 18 digits, or up to 6 digits with a binary (Ki..Ti) or decimal (k..T) suffix.
MEMORY_STRING = r"(?:[1-9][0-9]{0,17}|[1-9][0-9]{0,5}(?:[KMGT]i|[kMGT]))"
_CPU_STRING_RE = re.compile(CPU_STRING)
_MEMORY_STRING_RE = re.compile(MEMORY_STRING)


def to_cpu(value: object) -> Decimal:
    """CPU cores as stored: a Decimal with 3 places, from 2, 0.5 or "500m".

    A number must be 0.001 to 99999.999 (then rounded to a millicore); a string must have
    one of the forms CPU_STRING states.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        parse_cpu(value)  # type: ignore[arg-type] # raises: "... is not a CPU quantity"
    if isinstance(value, str):
        if not _CPU_STRING_RE.fullmatch(value):
            parse_cpu(value)  # a helpful message for what it cannot read at all
            raise ValueError(
                'use cores 1 to 99999.999 with at most 3 decimals ("2", "0.5") or '
                'millicores ("500m")'
            )
        cores = Decimal(repr(parse_cpu(value)))
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        cores = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        # Checked before rounding, so the limits are exactly the schema's minimum/maximum.
        if cores < 0:
            raise ValueError("must not be negative")
        if cores < MIN_CPU:
            raise ValueError("must be more than 0: the smallest is 0.001 (1m, a millicore)")
        if cores > MAX_CPU:
            raise ValueError(f"must be at most {MAX_CPU} cores")
    return cores.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def to_memory(value: object) -> int:
    """Bytes from 8589934592 or "8Gi": a whole number of at least 1 byte."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        parse_memory(value)  # type: ignore[arg-type] # raises: "... is not a memory quantity"
    if isinstance(value, str):
        if not _MEMORY_STRING_RE.fullmatch(value):
            parse_memory(value)  # a helpful message for what it cannot read at all
            raise ValueError(
                "use whole bytes (134217728) or a whole number with a suffix: Ki, Mi, Gi, Ti "
                "(powers of 1024) or k, M, G, T (powers of 1000), such as 512Mi"
            )
        return parse_memory(value)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError("must be a whole number of bytes")
    num = int(value)
    if num < 0:
        raise ValueError("must not be negative")
    if num < 1:
        raise ValueError("must be more than 0 bytes")
    if num > MAX_MEMORY_BYTES:
        raise ValueError(f"must be at most {MAX_MEMORY_BYTES} bytes")
    return num


CpuInput = Annotated[
    Decimal,
    BeforeValidator(to_cpu),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": float(MIN_CPU), "maximum": float(MAX_CPU)},
                {"type": "string", "pattern": f"^{CPU_STRING}$"},
            ],
            "description": 'CPU cores: a number (2, 0.5) or a Kubernetes quantity ("500m", "2").',
        }
    ),
]
MemoryInput = Annotated[
    int,
    BeforeValidator(to_memory),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_MEMORY_BYTES},
                {"type": "string", "pattern": f"^{MEMORY_STRING}$"},
            ],
            "description": 'Memory: bytes (8589934592) or a Kubernetes quantity ("8Gi", "512Mi").',
        }
    ),
]


# Printable ASCII only: no spaces, and no class (\s) that regex engines read differently.
ENGINE_URL_PATTERN = r"^(?:unix|tcp|ssh|https?)://[!-~]+$"


def _engine_url(value: str) -> str:
    if not re.fullmatch(ENGINE_URL_PATTERN[1:-1], value):  # the pattern, worded for people
        raise ValueError(
            "use a Docker engine URL without spaces: unix:///var/run/docker.sock, "
            "tcp://host:2376, ssh://user@host or http(s)://host:port"
        )
    return value


EngineUrl = Annotated[
    str,
    StringConstraints(min_length=7, max_length=255),
    AfterValidator(_engine_url),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 7,
            "maxLength": 255,
            "pattern": ENGINE_URL_PATTERN,
            "description": "unix:///var/run/docker.sock, or tcp://host:2376 (TLS).",
        }
    ),
    Field(description="unix:///var/run/docker.sock, or tcp://host:2376 (TLS)."),
]
Address = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[!-~]+$"),
    Field(description="Host or IP at which replicas' published ports on this node are reached."),
]


def _manager_url(value: str) -> str:
    problem = manager_url_problem(value) if value else None
    if problem:
        raise ValueError(problem)
    return value


MANAGER_URL_DESCRIPTION = (
    "A swarm nodepool's Swarm manager: its engine URL, unix:///var/run/docker.sock or "
    "tcp://host:2376 (TLS from the DOCKER_TLS_* settings); it must answer as a manager. "
    "Empty for a docker nodepool."
)
# Empty, or a manager's engine URL (the pattern's URL part made optional).
ManagerUrl = Annotated[
    str,
    StringConstraints(max_length=255),
    AfterValidator(_manager_url),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 255,
            "pattern": MANAGER_URL_PATTERN[:-1] + "?$",
            "description": MANAGER_URL_DESCRIPTION,
        }
    ),
]


# The model's key=value pattern, with the value in printable ASCII (no class such as \s).
NODE_LABEL_API_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}=[!-<>-~]{1,128}$"


def _node_label(value: str) -> str:
    problem = node_label_problem(value)
    if problem is None and not re.fullmatch(NODE_LABEL_API_PATTERN[1:-1], value):
        problem = f"“{value}” is not a node label requirement: use printable ASCII only."
    if problem:
        raise ValueError(problem)
    return value


NodeLabel = Annotated[
    str,
    AfterValidator(_node_label),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": NODE_LABEL_API_PATTERN,
            "description": "key=value, such as gpu=a10g (no spaces).",
        }
    ),
]
NodeLabels = Annotated[
    list[NodeLabel],
    Field(
        max_length=MAX_NODE_LABELS,
        description=(
            "Swarm node labels (key=value) a node must carry to run the nodepool's replicas; "
            "empty: any node of the swarm. Some node must carry them when the nodepool is made."
        ),
    ),
]
RuntimeName = Annotated[
    Literal["docker", "swarm"],
    Field(
        description=(
            "docker: replicas are placed on the Docker engines added as nodes. swarm: a Swarm "
            "manager (manager_url) schedules them, and the nodes are the swarm's."
        )
    ),
]


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


# --- errors are in errors.py -------------------------------------------------------------


class MeOut(Schema):
    username: str
    email: str
    space: str = Field(
        description="Whose objects the key reaches: your username, or the organization's id "
        "for a key scoped to one."
    )
    role: str = Field(description="Your role there: owner, admin, member or viewer.")


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
    instance_type: InstanceType = "docker-host"
    cpu_cores: CpuInput = Decimal(2)
    memory: MemoryInput = 4 * 1024**3
    accelerators: AcceleratorCount = 0
    accelerator_type: ShortText = ""
    accelerator_sharing: Annotated[bool, Strict()] = Field(
        False, description="Let several replicas use one accelerator device (off: one each)."
    )
    price_per_hour: Annotated[float, Strict()] = Field(
        0, ge=0, le=999999.9999, description="USD per node-hour."
    )
    min_nodes: Count = 0
    max_nodes: Count = 1
    runtime: RuntimeName = "docker"
    manager_url: ManagerUrl = ""
    node_labels: NodeLabels = []


class NodepoolPatch(InputSchema):
    """The nodepool fields to change; the others keep their value."""

    description: Description = None  # type: ignore[assignment]
    instance_type: InstanceType = None  # type: ignore[assignment]
    cpu_cores: CpuInput = None  # type: ignore[assignment]
    memory: MemoryInput = None  # type: ignore[assignment]
    accelerators: AcceleratorCount = None  # type: ignore[assignment]
    accelerator_type: ShortText = None  # type: ignore[assignment]
    accelerator_sharing: Annotated[bool, Strict()] = None  # type: ignore[assignment]
    price_per_hour: Annotated[float, Strict()] = Field(None, ge=0, le=999999.9999)  # type: ignore[assignment]
    min_nodes: Count = None  # type: ignore[assignment]
    max_nodes: Count = None  # type: ignore[assignment]
    # A nodepool with nodes or deployments keeps its runtime (409).
    runtime: RuntimeName = None  # type: ignore[assignment]
    manager_url: ManagerUrl = None  # type: ignore[assignment]
    node_labels: NodeLabels = None  # type: ignore[assignment]


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
    accelerator_sharing: bool
    price_per_hour: float
    min_nodes: int
    max_nodes: int
    runtime: Literal["docker", "swarm"] = Field(
        description="docker: placed on its nodes by this server; swarm: by a Swarm manager."
    )
    manager_url: str = Field(description="The Swarm manager's engine URL (swarm only).")
    node_labels: list[str] = Field(description="Swarm node labels its nodes carry (swarm only).")
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
    accelerators: AcceleratorCount = None  # type: ignore[assignment]
    # Empty: the nodepool's type.
    accelerator_type: ShortText = None  # type: ignore[assignment]


class NodePatch(InputSchema):
    """The node fields to change; the others keep their value."""

    engine_url: EngineUrl = None  # type: ignore[assignment]
    address: Address = None  # type: ignore[assignment]
    cpu_capacity: CpuInput = None  # type: ignore[assignment]
    memory_capacity: MemoryInput = None  # type: ignore[assignment]
    accelerators: AcceleratorCount = None  # type: ignore[assignment]
    # Empty: the nodepool's type.
    accelerator_type: ShortText = None  # type: ignore[assignment]


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
    accelerator_type: str = Field(description="Its own, else its nodepool's.")
    accelerator_ids: list[str] = Field(
        description='The devices replicas are given: as the engine reported them, else "0".."n-1".'
    )
    accelerator_driver: str = Field(
        description='"nvidia" when the engine showed the NVIDIA runtime or devices.'
    )
    used_cpu: float = Field(description="CPU that live replicas on the node ask for.")
    used_memory_bytes: int
    used_accelerators: int = Field(description="Accelerators that live replicas hold.")
    status: Literal["unknown", "ready", "unreachable"]
    status_message: str
    availability: str = Field(
        description="A swarm node's availability: active, pause or drain; empty on docker."
    )
    swarm_node_id: str = Field(description="The node's Swarm id; empty on a docker nodepool.")
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

    min_replicas: WholeNumber = _autoscale_field("min_replicas", optional=True)
    max_replicas: WholeNumber = _autoscale_field("max_replicas", optional=True)
    scale_down_delay_seconds: WholeNumber = _autoscale_field(
        "scale_down_delay_seconds", optional=True
    )
    traffic_history_seconds: WholeNumber = _autoscale_field(
        "traffic_history_seconds", optional=True
    )
    scale_up_delay_seconds: WholeNumber = _autoscale_field("scale_up_delay_seconds", optional=True)
    scale_to_zero_delay_seconds: WholeNumber = _autoscale_field(
        "scale_to_zero_delay_seconds", optional=True
    )
    target_concurrency: WholeNumber = _autoscale_field("target_concurrency", optional=True)


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


class ScalingOut(Schema):
    """Why the deployment has its replica count now (the deployment page's line)."""

    explanation: str = Field(
        description='One line, e.g. "wants 3: average 11.2 in flight over 60 s / target 4; '
        'scale-up waits 40 s more of its 60 s delay".'
    )
    decision: Literal[
        "hold",
        "hold_up_delay",
        "hold_down_delay",
        "hold_zero_delay",
        "scale_up",
        "scale_down",
        "scale_to_zero",
        "cold_start",
        "clamp_min",
        "clamp_max",
    ] = Field(description="The kind of decision the autoscaler takes now.")
    wanted_replicas: int = Field(description="What the traffic asks for, within min and max.")
    desired_replicas: int = Field(description="What reconcile works towards now.")
    average_in_flight: float = Field(description="Over the scaling timeframe.")
    acts_in_seconds: float | None = Field(
        description="When a held change would act if it is still wanted; null otherwise."
    )
