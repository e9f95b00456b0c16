"""Image inputs of the predict API: `image.base64` checked, `image.url` fetched.

The router never decodes pixels (no imaging library in the web process): an image is
recognised by its file signature, which is what tells a picture from a wrong field, and
the model decodes it. A base64 image is checked where the body is parsed, so a bad one
is a 400 before any routing; a URL is fetched only after the key and the target were
accepted (a caller with no valid key makes this server fetch nothing), and the model
gets the fetched bytes as `image.base64`, so models need no network access.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

from orchestration.predict import resolve
from orchestration.predict.resolve import PredictError

KINDS = "PNG, JPEG, GIF, WebP or BMP"
MAX_REDIRECTS = 5


def image_kind(head: bytes) -> str | None:
    """The format named by the file's first bytes, None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    return None


def _bad(field: str, description: str, details: str = "") -> PredictError:
    return PredictError(400, resolve.INVALID_REQUEST, f"{field} {description}", details)


def decode_base64(value: str, field: str) -> tuple[bytes, str]:
    """The image's bytes and its standard base64 spelling. Standard, URL-safe, unpadded
    and line-wrapped base64 are all read (protobuf's JSON mapping accepts them)."""
    limit = settings.PREDICT_IMAGE_MAX_BYTES
    # Four characters carry three bytes: refuse a huge string before decoding it.
    if len(value) * 3 // 4 > limit + 3:
        raise too_large(field, len(value) * 3 // 4)
    try:
        data = base64.b64decode(value, validate=True)
        standard = value
    except (binascii.Error, ValueError):
        cleaned = "".join(value.split()).replace("-", "+").replace("_", "/")
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            data = base64.b64decode(cleaned, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad(field, "is not valid base64", str(exc)) from None
        standard = base64.b64encode(data).decode("ascii")
    check_bytes(data, field)
    return data, standard


def check_bytes(data: bytes, field: str) -> str:
    """The image's format; a PredictError naming `field` when it is none or too large."""
    if not data:
        raise _bad(field, "is empty")
    if len(data) > settings.PREDICT_IMAGE_MAX_BYTES:
        raise too_large(field, len(data))
    kind = image_kind(data[:32])
    if kind is None:
        raise _bad(field, f"is not an image ({KINDS})", f"it starts with {data[:8]!r}")
    return kind


def too_large(field: str, size: int) -> PredictError:
    return _bad(
        field,
        "is too large",
        f"the image is {size} bytes; the limit is {settings.PREDICT_IMAGE_MAX_BYTES} "
        "(PREDICT_IMAGE_MAX_BYTES)",
    )


def check_image(image, field: str) -> str | None:
    """Check `data.image` in place; the URL to fetch when it has one and no base64."""
    if not isinstance(image, dict):
        raise _bad(field, "must be an object with base64 or url")
    value = image.get("base64")
    if value is not None and value != "":
        if not isinstance(value, str):
            raise _bad(f"{field}.base64", "must be a base64 string")
        _, standard = decode_base64(value, f"{field}.base64")
        if standard is not value:
            image["base64"] = standard
        return None
    url = image.get("url")
    if url is None or url == "":
        raise _bad(field, "needs base64 or url")
    if not isinstance(url, str):
        raise _bad(f"{field}.url", "must be a string")
    if not settings.PREDICT_IMAGE_URLS:
        raise _bad(
            f"{field}.url",
            "cannot be used here",
            "image URLs are not fetched by this server; send image.base64 (PREDICT_IMAGE_URLS)",
        )
    _check_scheme(url, f"{field}.url")
    return url


def _check_scheme(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(field, "must be an http:// or https:// URL", f"got {url[:200]!r}")


# --------------------------------------------------------------------------- fetching


async def fetch_urls(inputs: list[dict]) -> None:
    """Fetch every input's `fetch` URL (set by parse_body) into the data the model gets
    (`send`): its image as base64. Raises PredictError naming the input."""
    pending = [(index, item) for index, item in enumerate(inputs) if "fetch" in item]
    if not pending:
        return
    # All of one request's images together get what one request body may carry, so that
    # a request of many URLs cannot make the router hold many times that in memory.
    budget = Budget(settings.PREDICT_MAX_BYTES)
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=settings.PREDICT_IMAGE_URL_TIMEOUT
    ) as client:
        fetched = await asyncio.gather(
            *(
                _fetch(client, item.pop("fetch"), f"inputs[{i}].data.image.url", budget)
                for i, item in pending
            )
        )
    for (_, item), data in zip(pending, fetched, strict=True):
        image = {k: v for k, v in item["data"]["image"].items() if k != "url"}
        image["base64"] = base64.b64encode(data).decode("ascii")
        item["send"] = {**item["data"], "image": image}


class Budget:
    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, size: int, field: str) -> None:
        self.left -= size
        if self.left < 0:
            raise _bad(
                field,
                "could not be fetched",
                f"the images of one request may total {settings.PREDICT_MAX_BYTES} bytes "
                "(PREDICT_MAX_BYTES)",
            )


async def _fetch(client: httpx.AsyncClient, url: str, field: str, budget: Budget) -> bytes:
    try:
        async with asyncio.timeout(settings.PREDICT_IMAGE_URL_TIMEOUT):
            data = await _follow(client, url, field, budget)
    except TimeoutError:
        raise _bad(
            field,
            "could not be fetched",
            f"no answer within {settings.PREDICT_IMAGE_URL_TIMEOUT:g} s "
            "(PREDICT_IMAGE_URL_TIMEOUT)",
        ) from None
    except httpx.HTTPError as exc:
        raise _bad(field, "could not be fetched", f"{type(exc).__name__}: {exc}") from None
    check_bytes(data, field)
    return data


async def _follow(client: httpx.AsyncClient, url: str, field: str, budget: Budget) -> bytes:
    """GET the URL, checking every hop's address before connecting to it."""
    for _ in range(MAX_REDIRECTS + 1):
        _check_scheme(url, field)
        parts = urlsplit(url)
        address = await _public_address(parts.hostname, parts.port, parts.scheme, field)
        # Connect to the address just checked, not to whatever a second lookup says
        # (DNS rebinding); the Host header and TLS name stay the URL's.
        host = f"[{address}]" if ":" in address else address
        netloc = host + (f":{parts.port}" if parts.port else "")
        pinned = parts._replace(netloc=netloc).geturl()
        request = client.build_request(
            "GET",
            pinned,
            headers={"Host": parts.netloc.rpartition("@")[2], "Accept": "image/*"},
            extensions={"sni_hostname": parts.hostname},
        )
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                raise _bad(
                    field, "could not be fetched", f"the server answered {response.status_code}"
                )
            return await _read_limited(response, field, budget)
        finally:
            await response.aclose()
    raise _bad(field, "could not be fetched", f"more than {MAX_REDIRECTS} redirects")


async def _read_limited(response: httpx.Response, field: str, budget: Budget) -> bytes:
    limit = settings.PREDICT_IMAGE_MAX_BYTES
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(field, int(declared))
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise too_large(field, size)
        budget.take(len(chunk), field)
        chunks.append(chunk)
    return b"".join(chunks)


async def _public_address(host: str, port: int | None, scheme: str, field: str) -> str:
    """One address of the host, after checking that none of them is private."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port or (443 if scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise _bad(field, "could not be fetched", f"cannot resolve {host!r}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    if not settings.PREDICT_IMAGE_URL_PRIVATE:
        for address in addresses:
            if not _is_public(address):
                raise _bad(
                    field,
                    "points to a private address",
                    f"{host} resolves to {address}; private, loopback and link-local "
                    "addresses are not fetched (PREDICT_IMAGE_URL_PRIVATE)",
                )
    return addresses[0]


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
