"""Checking config.yaml: YAML without aliases or duplicate keys, known keys only,
model.id, value types, CPU and memory quantities, and batching limits (see SPEC.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from orchestration.nodepools.accelerators import MAX_ACCELERATORS
from orchestration.quantities import parse_cpu, parse_memory

from .errors import UploadError
from .limits import MAX_TEXT_FILE_BYTES
from .tree import CONFIG_FILE, read_text, walk_files

MODEL_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_MODEL_ID_RE = re.compile(MODEL_ID_PATTERN)
_MODEL_ID_HELP = "use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"

# Keys config.yaml may hold, per section.
TOP_LEVEL_KEYS = ("model", "inference_compute_info", "build_info", "batching")
MODEL_KEYS = ("id", "description", "model_type_id", "user_id", "app_id")
COMPUTE_KEYS = (
    "cpu_limit",
    "cpu_memory",
    "cpu_requests",
    "cpu_memory_requests",
    "num_accelerators",
    "accelerator_type",
    "accelerator_memory",
)
BUILD_KEYS = ("python_version",)
BATCHING_KEYS = ("max_batch_size", "max_wait_ms")

# Field sizes of the catalog models the values end up in.
MAX_DESCRIPTION_CHARS = 300
MAX_MODEL_TYPE_CHARS = 64
MAX_CPU_CORES = 99_999
# A nodepool's accelerator_type column.
MAX_ACCELERATOR_TYPE_CHARS = 64
# Batching bounds: past a thousand inputs one call is a job, not a request; past ten
# seconds of waiting every request would time out at the router first.
MAX_BATCH_SIZE = 1024
MAX_BATCH_WAIT_MS = 10_000


@dataclass(frozen=True)
class CheckedConfig:
    config: dict[str, Any]
    model_id: str
    description: str
    model_type_id: str
    cpu: float | None  # cores per replica: cpu_limit, else cpu_requests
    memory_bytes: int | None  # bytes per replica: cpu_memory, else cpu_memory_requests
    num_accelerators: int


def check_config(root: Path) -> CheckedConfig:
    """Read and check root/config.yaml; raises UploadError at the first problem."""
    config = _load_config(root)
    _check_keys(config, TOP_LEVEL_KEYS, "")
    model_id, description, model_type_id = _check_model_section(config)
    cpu, memory_bytes, num_accelerators = _check_compute_section(config)
    _check_build_section(config)
    _check_batching_section(config)
    return CheckedConfig(
        config=config,
        model_id=model_id,
        description=description,
        model_type_id=model_type_id,
        cpu=cpu,
        memory_bytes=memory_bytes,
        num_accelerators=num_accelerators,
    )


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (which can expand exponentially) and duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not supported", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":merge"):
                    continue
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                        )
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _load_config(root: Path) -> dict[str, Any]:
    missing = "not found: an upload needs config.yaml at its top level, next to the folder 1/"
    if not (root / CONFIG_FILE).exists() and not (root / CONFIG_FILE).is_symlink():
        deeper = sorted(
            rel for rel, _ in walk_files(root) if PurePosixPath(rel).name == CONFIG_FILE
        )
        if deeper:
            missing += f" (there is one at {deeper[0]}; upload the folder that holds it)"
    text = read_text(root, CONFIG_FILE, missing, MAX_TEXT_FILE_BYTES)
    try:
        config = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "cannot be parsed"
        if exc.problem and exc.context and exc.context_mark and exc.problem_mark:
            problem += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise UploadError(CONFIG_FILE, f"is not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise UploadError(CONFIG_FILE, f"is not valid YAML: {exc}") from None
    if config is None:
        raise UploadError(CONFIG_FILE, "is empty; it needs a 'model' section with an 'id'")
    if not isinstance(config, dict):
        raise UploadError(
            CONFIG_FILE,
            f"must be a mapping of sections such as 'model:' at the top level, "
            f"not {_yaml_kind(config)}",
        )
    return config


def _check_keys(section: dict[Any, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in section:
        if key not in allowed:
            where = f"under {prefix.rstrip('.')}" if prefix else "at the top level"
            raise UploadError(
                CONFIG_FILE, f"unknown key '{prefix}{key}' (allowed {where}: {', '.join(allowed)})"
            )


def _section(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UploadError(CONFIG_FILE, f"{key} must be a mapping of keys, not {_yaml_kind(value)}")
    return value


def _optional_text(section: dict[str, Any], key: str, path: str, max_chars: int | None) -> str:
    value = section.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UploadError(
            CONFIG_FILE, f"{path} must be text, not {_yaml_kind(value)}; put it in quotes"
        )
    if max_chars is not None and len(value) > max_chars:
        raise UploadError(CONFIG_FILE, f"{path} is longer than {max_chars} characters")
    return value


def _check_model_section(config: dict[str, Any]) -> tuple[str, str, str]:
    if "model" not in config:
        raise UploadError(CONFIG_FILE, "the 'model' section is missing; it needs at least model.id")
    model = _section(config, "model")
    _check_keys(model, MODEL_KEYS, "model.")
    model_id = model.get("id")
    if model_id is None or model_id == "":
        raise UploadError(CONFIG_FILE, "model.id is missing")
    if not isinstance(model_id, str):
        raise UploadError(
            CONFIG_FILE,
            f"model.id must be text, not {_yaml_kind(model_id)}; put it in quotes "
            f'(id: "{model_id}")',
        )
    if not _MODEL_ID_RE.match(model_id):
        raise UploadError(CONFIG_FILE, f"model.id {model_id!r} is not valid: {_MODEL_ID_HELP}")
    description = _optional_text(model, "description", "model.description", MAX_DESCRIPTION_CHARS)
    model_type_id = _optional_text(
        model, "model_type_id", "model.model_type_id", MAX_MODEL_TYPE_CHARS
    )
    _optional_text(model, "user_id", "model.user_id", None)
    _optional_text(model, "app_id", "model.app_id", None)
    return model_id, description, model_type_id


def _cpu_value(info: dict[str, Any], key: str) -> float | None:
    value = info.get(key)
    if value is None:
        return None
    path = f"inference_compute_info.{key}"
    try:
        cores = parse_cpu(value)
    except ValueError:
        raise UploadError(
            CONFIG_FILE, f"{path}: {value!r} is not a CPU quantity (examples: 500m, 2)"
        ) from None
    if cores <= 0:
        raise UploadError(CONFIG_FILE, f"{path}: {value!r} must be more than 0")
    if cores > MAX_CPU_CORES:
        raise UploadError(CONFIG_FILE, f"{path}: {value!r} is more than {MAX_CPU_CORES} cores")
    millis = cores * 1000
    if abs(millis - round(millis)) > 1e-6:
        raise UploadError(
            CONFIG_FILE, f"{path}: {value!r} is finer than 1m (a thousandth of a core)"
        )
    return cores


def _memory_value(info: dict[str, Any], key: str) -> int | None:
    value = info.get(key)
    if value is None:
        return None
    path = f"inference_compute_info.{key}"
    try:
        num_bytes = parse_memory(value)
    except ValueError as exc:
        detail = str(exc)
        hint = "; " + detail.split(": ", 1)[1] if "did you mean" in detail else ""
        raise UploadError(
            CONFIG_FILE,
            f"{path}: {value!r} is not a memory quantity (examples: 512Mi, 1Gi, 2G){hint}",
        ) from None
    if num_bytes <= 0:
        raise UploadError(CONFIG_FILE, f"{path}: {value!r} must be more than 0")
    return num_bytes


def _check_compute_section(config: dict[str, Any]) -> tuple[float | None, int | None, int]:
    info = _section(config, "inference_compute_info")
    _check_keys(info, COMPUTE_KEYS, "inference_compute_info.")
    cpu_limit = _cpu_value(info, "cpu_limit")
    cpu_requests = _cpu_value(info, "cpu_requests")
    memory_limit = _memory_value(info, "cpu_memory")
    memory_requests = _memory_value(info, "cpu_memory_requests")
    _memory_value(info, "accelerator_memory")
    if cpu_limit is not None and cpu_requests is not None and cpu_requests > cpu_limit:
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.cpu_requests is more than cpu_limit; "
            "a replica cannot request more than its limit",
        )
    if memory_limit is not None and memory_requests is not None and memory_requests > memory_limit:
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.cpu_memory_requests is more than cpu_memory; "
            "a replica cannot request more than its limit",
        )
    accelerators = info.get("num_accelerators")
    if accelerators is None:
        accelerators = 0
    if isinstance(accelerators, bool) or not isinstance(accelerators, int) or accelerators < 0:
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.num_accelerators must be a whole number, 0 or more, "
            f"not {_yaml_kind(accelerators)}",
        )
    if accelerators > MAX_ACCELERATORS:
        raise UploadError(
            CONFIG_FILE,
            f"inference_compute_info.num_accelerators is {accelerators}; a replica can have at "
            f"most {MAX_ACCELERATORS} (no node has more)",
        )
    accelerator_type = info.get("accelerator_type")
    if accelerator_type is not None and not (
        isinstance(accelerator_type, str)
        or (
            isinstance(accelerator_type, list)
            and all(isinstance(item, str) for item in accelerator_type)
        )
    ):
        raise UploadError(
            CONFIG_FILE,
            "inference_compute_info.accelerator_type must be text or a list of text, "
            f"not {_yaml_kind(accelerator_type)}",
        )
    _check_accelerator_names(accelerator_type)
    cpu = cpu_limit if cpu_limit is not None else cpu_requests
    memory = memory_limit if memory_limit is not None else memory_requests
    return cpu, memory, accelerators


def _check_accelerator_names(value: str | list[str] | None) -> None:
    """Placement matches these against nodepools' accelerator types (see placement.py),
    so each must be a name a nodepool could have."""
    if value is None:
        return
    path = "inference_compute_info.accelerator_type"
    names = [value] if isinstance(value, str) else value
    if not names:
        raise UploadError(CONFIG_FILE, f"{path} is an empty list; name a type or leave it out")
    for name in names:
        if not name.strip():
            raise UploadError(CONFIG_FILE, f"{path} has an empty name")
        if len(name) > MAX_ACCELERATOR_TYPE_CHARS:
            raise UploadError(
                CONFIG_FILE,
                f"{path} {name[:20]!r}... is longer than {MAX_ACCELERATOR_TYPE_CHARS} characters",
            )


def _check_build_section(config: dict[str, Any]) -> None:
    build = _section(config, "build_info")
    _check_keys(build, BUILD_KEYS, "build_info.")
    version = build.get("python_version")
    if version is None:
        return
    if not isinstance(version, str):
        raise UploadError(
            CONFIG_FILE,
            f"build_info.python_version must be text, not {_yaml_kind(version)}; "
            'put it in quotes (python_version: "3.11")',
        )
    if not re.match(r"^3\.\d{1,2}$", version):
        raise UploadError(
            CONFIG_FILE, f'build_info.python_version {version!r} is not valid; use e.g. "3.11"'
        )


def _check_batching_section(config: dict[str, Any]) -> None:
    if "batching" not in config:
        return
    if not isinstance(config["batching"], dict):
        raise UploadError(
            CONFIG_FILE,
            "batching must be a mapping such as {max_batch_size: 32, max_wait_ms: 5}, "
            f"not {_yaml_kind(config['batching'])}",
        )
    batching = config["batching"]
    _check_keys(batching, BATCHING_KEYS, "batching.")
    for key in BATCHING_KEYS:
        if key not in batching:
            raise UploadError(
                CONFIG_FILE,
                f"batching.{key} is missing; batching needs both max_batch_size and max_wait_ms",
            )
    size = batching["max_batch_size"]
    if isinstance(size, bool) or not isinstance(size, int):
        raise UploadError(
            CONFIG_FILE,
            f"batching.max_batch_size must be a whole number, not {_yaml_kind(size)}",
        )
    if not 1 <= size <= MAX_BATCH_SIZE:
        raise UploadError(
            CONFIG_FILE,
            f"batching.max_batch_size {size} is out of range: use 1 to {MAX_BATCH_SIZE} "
            "(1 turns batching off)",
        )
    wait = batching["max_wait_ms"]
    if isinstance(wait, bool) or not isinstance(wait, int | float) or wait != wait:
        raise UploadError(
            CONFIG_FILE,
            f"batching.max_wait_ms must be a number of milliseconds, not {_yaml_kind(wait)}",
        )
    if not 0 <= wait <= MAX_BATCH_WAIT_MS:
        raise UploadError(
            CONFIG_FILE,
            f"batching.max_wait_ms {wait} is out of range: use 0 to {MAX_BATCH_WAIT_MS}",
        )
