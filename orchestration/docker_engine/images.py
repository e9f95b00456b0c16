"""An engine's identity and its images: ping, build, copy to another engine, remove."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from orchestration.docker_engine.client import (
    LONG_TIMEOUT_SECONDS,
    EngineError,
    ImageBuildError,
    NotFoundError,
    TLSOptions,
    _client,
    _translate,
)


@dataclass(frozen=True)
class EngineInfo:
    version: str
    ncpu: int
    mem_total_bytes: int
    os: str
    arch: str = ""
    api_version: str = ""
    name: str = ""
    # Accelerator hints: runtime names (`nvidia` with the NVIDIA toolkit) and, on
    # engines with CDI (Docker 28+), the devices it discovered (`nvidia.com/gpu=0`).
    runtimes: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()


# Engine ---------------------------------------------------------------------------------


def ping(url: str, *, tls: TLSOptions | None = None) -> EngineInfo:
    """Check that the engine answers, and learn its capacity for the node record."""
    client = _client(url, tls)
    with _translate(url):
        client.api.ping()
        info = client.api.info()
        version = client.api.version()
    return EngineInfo(
        version=str(info.get("ServerVersion") or version.get("Version", "")),
        ncpu=int(info.get("NCPU") or 0),
        mem_total_bytes=int(info.get("MemTotal") or 0),
        os=str(info.get("OperatingSystem") or info.get("OSType") or ""),
        arch=str(info.get("Architecture") or version.get("Arch", "")),
        api_version=str(version.get("ApiVersion", "")),
        name=str(info.get("Name") or ""),
        runtimes=tuple(sorted(str(k) for k in (info.get("Runtimes") or {}))),
        devices=tuple(
            str(d.get("ID") or "")
            for d in info.get("DiscoveredDevices") or []
            if isinstance(d, dict) and d.get("Source", "cdi") == "cdi"
        ),
    )


# Images ---------------------------------------------------------------------------------


def image_exists(url: str, tag: str, *, tls: TLSOptions | None = None) -> bool:
    """Whether the engine has the image; tags embed a content hash, so this means
    "already built" and lets builds be skipped."""
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.inspect_image(tag)
    except NotFoundError:
        return False
    return True


def build_image(
    url: str,
    context_tar: bytes | IO[bytes],
    tag: str,
    labels: dict[str, str] | None = None,
    *,
    tls: TLSOptions | None = None,
    nocache: bool = False,
    timeout: float = LONG_TIMEOUT_SECONDS,
) -> str:
    """Build `tag` from an uncompressed tar context; returns the build log.

    Raises ImageBuildError carrying the log when a step fails. Never pulls: engines
    here have no registry, so the base image must already be present
    (scripts/build-base-image or `transfer_image`).
    """
    client = _client(url, tls, LONG_TIMEOUT_SECONDS)
    fileobj = _as_file(context_tar)
    lines: list[str] = []
    with _translate(url):
        stream = client.api.build(
            fileobj=fileobj,
            custom_context=True,
            tag=tag,
            labels=labels or {},
            rm=True,
            forcerm=True,
            pull=False,
            nocache=nocache,
            decode=True,
            timeout=int(timeout),
            # Proxy settings from ~/.docker/config.json would only leak into the image.
            use_config_proxy=False,
        )
        for chunk in stream:
            if "stream" in chunk:
                lines.append(str(chunk["stream"]))
            elif "status" in chunk:
                lines.append(f"{chunk['status']}\n")
            if "error" in chunk:
                message = str(chunk.get("error") or "build failed").strip()
                lines.append(f"ERROR: {message}\n")
                raise ImageBuildError(url, f"building {tag} failed: {message}", "".join(lines))
    log = "".join(lines)
    if not image_exists(url, tag, tls=tls):
        raise ImageBuildError(url, f"build of {tag} ended without producing the image", log)
    return log


def _as_file(data: bytes | IO[bytes]) -> IO[bytes]:
    return io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data


def transfer_image(
    src_url: str,
    dst_url: str,
    tag: str,
    *,
    src_tls: TLSOptions | None = None,
    dst_tls: TLSOptions | None = None,
) -> bool:
    """Copy an image to another engine (`docker save | docker load`), streaming.

    Nodes have no registry to pull from, so a node that lacks a replica's image gets it
    from the engine that built it. Returns False when the destination already had it.
    """
    if src_url == dst_url or image_exists(dst_url, tag, tls=dst_tls):
        return False
    src = _client(src_url, src_tls, LONG_TIMEOUT_SECONDS)
    dst = _client(dst_url, dst_tls, LONG_TIMEOUT_SECONDS)
    with _translate(src_url):
        archive = src.api.get_image(tag, chunk_size=1024 * 1024)
    with _translate(dst_url):
        for chunk in dst.api.load_image(_guard(src_url, archive), quiet=True) or ():
            if isinstance(chunk, dict) and chunk.get("error"):
                raise EngineError(dst_url, f"loading {tag} failed: {chunk['error']}")
    if not image_exists(dst_url, tag, tls=dst_tls):
        raise EngineError(dst_url, f"{tag} missing after transfer from {src_url}")
    return True


def _guard(url: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    # The save stream is read while the load request is being sent; a failure on the
    # source side must be reported against the source engine, not the destination.
    with _translate(url):
        yield from chunks


def remove_image(url: str, tag: str, *, tls: TLSOptions | None = None) -> bool:
    """Remove an image; False when it was not there. Fails while containers use it."""
    client = _client(url, tls)
    try:
        with _translate(url):
            client.api.remove_image(tag, noprune=False)
    except NotFoundError:
        return False
    return True
