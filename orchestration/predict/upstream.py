"""A lean keep-alive HTTP/1.1 client for the one request the router makes: POST a JSON
body to a replica's runner and read its answer.

aiohttp's general-purpose request path (cookies, redirects, tracing, multidicts, a
response object per call) cost the router more than the replica's own work; this sends
one preformatted request on a pooled connection and parses the answer with httptools
(uvicorn's parser, already installed). It knows HTTP/1.1 keep-alive, Content-Length and
chunked bodies, and nothing else, which is all the runner speaks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

import httptools

IDLE_SECONDS = 30.0  # below the runner's IDLE_TIMEOUT (120 s), so it never closes first
MAX_IDLE_PER_ADDRESS = 256
MAX_HEAD_BYTES = 64 * 1024


class UpstreamError(ConnectionError):
    """The replica could not be reached, or dropped the connection before answering."""


class _Connection(asyncio.Protocol):
    def __init__(self, max_body: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.max_body = max_body
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.body: list[bytes] = []
        self.size = 0
        self.received = False
        self.closed = False
        self.idle_since = 0.0

    # asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(UpstreamError(f"connection closed before the answer ({exc or 'EOF'})"))

    # httptools callbacks --------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.body = []
        self.size = 0

    def on_body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_body:
            self._fail(UpstreamError(f"the answer is larger than {self.max_body} bytes"))
            self.close()
            return
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        keep = self.parser.should_keep_alive()
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body), keep))
        if not keep:
            self.close()

    # ----------------------------------------------------------------------------------
    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            # Its event loop may have ended (a thread's or a test's): nothing runs its
            # callbacks again, and the transport closes its socket when collected.
            with contextlib.suppress(RuntimeError):
                self.transport.close()

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        if self.closed or self.transport.is_closing():
            raise UpstreamError("connection closed before the request")
        self.waiter = asyncio.get_running_loop().create_future()
        self.received = False
        self.transport.write(request)
        return await self.waiter


class UpstreamPool:
    """Idle connections per replica address; one event loop owns a pool."""

    def __init__(self, *, max_body: int = 64 * 1024 * 1024):
        self.max_body = max_body
        self._idle: dict[str, collections.deque[_Connection]] = {}
        self.loop = asyncio.get_running_loop()

    async def post_json(
        self, address: str, path: str, body: bytes, *, connect_timeout: float = 2.0
    ) -> tuple[int, bytes]:
        """POST body to http://address/path; (status, body). Raises UpstreamError."""
        host = address
        request = b"".join(
            (
                b"POST ",
                path.encode(),
                b" HTTP/1.1\r\nHost: ",
                host.encode(),
                b"\r\nContent-Type: application/json\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\n\r\n",
                body,
            )
        )
        connection = self._take_idle(address)
        if connection is not None:
            try:
                return self._keep(address, connection, await connection.exchange(request))
            except UpstreamError:
                # An idle connection the replica closed meanwhile: nothing reached the
                # model, so one fresh connection may try again.
                connection.close()
                if connection.received:
                    raise
            except BaseException:
                connection.close()
                raise
        connection = await self._connect(address, connect_timeout)
        try:
            return self._keep(address, connection, await connection.exchange(request))
        except BaseException:
            connection.close()
            raise

    def _keep(self, address: str, connection: _Connection, answer) -> tuple[int, bytes]:
        status, body, keep_alive = answer
        if keep_alive and not connection.closed:
            idle = self._idle.setdefault(address, collections.deque())
            if len(idle) < MAX_IDLE_PER_ADDRESS:
                connection.idle_since = time.monotonic()
                idle.append(connection)
            else:
                connection.close()
        return status, body

    def _take_idle(self, address: str) -> _Connection | None:
        idle = self._idle.get(address)
        if not idle:
            return None
        limit = time.monotonic() - IDLE_SECONDS
        while idle:
            # Most recently used first: the oldest go stale at the left end.
            connection = idle.pop()
            if not connection.closed and connection.idle_since >= limit:
                return connection
            connection.close()
        return None

    async def _connect(self, address: str, timeout: float) -> _Connection:
        host, _, port = address.rpartition(":")
        try:
            async with asyncio.timeout(timeout):
                _, connection = await self.loop.create_connection(
                    lambda: _Connection(self.max_body), host.strip("[]"), int(port)
                )
        except TimeoutError:
            raise UpstreamError(f"no connection to {address} within {timeout} s") from None
        except (OSError, ValueError) as exc:
            raise UpstreamError(f"cannot connect to {address}: {exc}") from None
        return connection

    def forget(self, address: str) -> None:
        """Close the idle connections to a replica that went away."""
        for connection in self._idle.pop(address, ()):
            connection.close()

    def close(self) -> None:
        for address in list(self._idle):
            self.forget(address)
