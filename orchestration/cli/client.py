"""The HTTP client for the management and predict APIs, and how its failures map to exit
codes: 0 ok, 1 the API refused or the operation failed, 2 usage error, 3 cannot reach the
server, 4 timed out waiting."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_TIMEOUT = 4

DEFAULT_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1/"
USER_AGENT = "orchestrate-cli/1"


class CliError(Exception):
    """Ends the command with `code`, printing `message` on stderr."""

    def __init__(self, code: int, message: str, body: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.body = body


class ApiError(CliError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(EXIT_API, message, body)
        self.status = status

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip().splitlines()
            return cls(
                status, f"HTTP {status}: {text[0][:200] if text else response.reason_phrase}"
            )
        lines = [f"HTTP {status}"]
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            for error in body["errors"]:
                field = error.get("field") if isinstance(error, dict) else None
                message = error.get("message") if isinstance(error, dict) else str(error)
                lines.append(f"{field}: {message}" if field else str(message))
        elif isinstance(body, dict) and isinstance(body.get("status"), dict):
            # The predict API's Clarifai-style status.
            status_obj = body["status"]
            lines.append(str(status_obj.get("description", "")))
            if status_obj.get("details"):
                lines.append(str(status_obj["details"]))
        elif isinstance(body, dict) and body.get("detail"):
            lines.append(str(body["detail"]))
        message = lines[0] + ": " + lines[1] if len(lines) == 2 else "\n  ".join(lines)
        return cls(status, message, body)


class Client:
    """A thin httpx client for the server: JSON in and out, errors as CliError."""

    def __init__(self, url: str, key: str, *, timeout: float = 30.0, transport=None):
        base = url.strip().rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        if not base.startswith(("http://", "https://")):
            raise CliError(
                EXIT_USAGE, f"the server URL must start with http:// or https://: {url!r}"
            )
        self.base = base
        self.http = httpx.Client(
            base_url=base,
            headers={
                "Authorization": f"Key {key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs) -> Any:
        url = path if path.startswith("/") else API_PREFIX + path
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise CliError(EXIT_CONNECTION, f"timed out talking to {self.base}: {exc}") from None
        except httpx.TransportError as exc:
            raise CliError(EXIT_CONNECTION, f"cannot reach {self.base}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        if response.status_code in (301, 302, 303, 307, 308):
            raise CliError(
                EXIT_API,
                f"HTTP {response.status_code}: the server redirected to "
                f"{response.headers.get('Location')}; check ORCHESTRATE_URL",
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                EXIT_API, f"HTTP {response.status_code}: the answer is not JSON; check the URL"
            ) from None

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs)

    def get_all(self, path: str) -> list[dict]:
        """Every item of a list endpoint, following its pages."""
        items: list[dict] = []
        while True:
            page = self.get(path, params={"offset": len(items)})
            items += page["items"]
            if not page["items"] or len(items) >= page["count"]:
                return items

    def post(self, path: str, body: Any = None, **kwargs) -> Any:
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def q(part: str) -> str:
    """One URL path segment."""
    return quote(str(part), safe="")
