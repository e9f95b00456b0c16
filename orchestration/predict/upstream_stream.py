"""A streamed answer from a replica's runner: POST /generate, then its lines as they come.

The runner answers a stream with chunked HTTP/1.1, one JSON line per chunk the model
yields (`runner/server.py`). Chunked HTTP rather than server-sent events: the runner is
the standard library's HTTP server, every hop here speaks HTTP/1.1 already, and
newline-delimited JSON needs no framing beyond the newline. One connection per stream,
closed at the end: closing it early is how a caller that went away stops the model's
generator (its next write to the socket fails). Streams are rare beside predictions, so
they do not share the pooled connections of `upstream.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httptools

from orchestration.predict.upstream import MAX_HEAD_BYTES, UpstreamError

READ_BYTES = 64 * 1024
MAX_LINE_BYTES = 16 * 1024 * 1024


class _Parser:
    """httptools callbacks: the status once the head is in, body bytes as they arrive."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status: int | None = None
        self.body = bytearray()
        self.complete = False
        self.head_bytes = 0

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk

    def on_message_complete(self) -> None:
        self.complete = True


class ReplicaStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parsed = _Parser()
        self._eof = False

    @property
    def status(self) -> int:
        return self._parsed.status or 0

    @classmethod
    async def open(
        cls, address: str, path: str, body: bytes, *, connect_timeout: float, head_timeout: float
    ) -> ReplicaStream:
        """Connect, send the request and read the answer's head. Raises UpstreamError
        when the replica cannot be reached (nothing reached the model: safe to retry)."""
        host, _, port = address.rpartition(":")
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except TimeoutError:
            raise UpstreamError(f"no connection to {address} within {connect_timeout} s") from None
        except (OSError, ValueError) as exc:
            raise UpstreamError(f"cannot connect to {address}: {exc}") from None
        stream = cls(reader, writer)
        writer.write(
            b"".join(
                (
                    b"POST ",
                    path.encode(),
                    b" HTTP/1.1\r\nHost: ",
                    address.encode(),
                    b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ",
                    str(len(body)).encode(),
                    b"\r\n\r\n",
                    body,
                )
            )
        )
        try:
            async with asyncio.timeout(head_timeout):
                while stream._parsed.status is None:
                    if not await stream._read():
                        raise UpstreamError(f"{address} closed the connection before answering")
        except BaseException:
            stream.close()
            raise
        return stream

    async def _read(self) -> bool:
        """Feed the parser one read; False at the end of the connection."""
        if self._eof:
            return False
        try:
            data = await self._reader.read(READ_BYTES)
        except OSError as exc:
            raise UpstreamError(f"the replica's connection failed: {exc}") from None
        if not data:
            self._eof = True
            return False
        if self._parsed.status is None:
            self._parsed.head_bytes += len(data)
            if self._parsed.head_bytes > MAX_HEAD_BYTES:
                raise UpstreamError("the replica's answer head is too large")
        try:
            self._parsed.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise UpstreamError(f"malformed HTTP answer: {exc}") from None
        return True

    async def read_body(self, timeout: float, limit: int = 1024 * 1024) -> bytes:
        """The whole (short) body of an answer that is not a stream, such as an error."""
        async with asyncio.timeout(timeout):
            while not self._parsed.complete and len(self._parsed.body) <= limit:
                if not await self._read():
                    break
        return bytes(self._parsed.body[:limit])

    async def lines(self, idle_timeout: float) -> AsyncIterator[bytes]:
        """Each complete line of the body as soon as it arrives; `idle_timeout` bounds
        the wait for the next one (a model may take long in total, never silently)."""
        buffer = self._parsed.body
        while True:
            newline = buffer.find(b"\n")
            if newline >= 0:
                line = bytes(buffer[:newline])
                del buffer[: newline + 1]
                if line.strip():
                    yield line
                continue
            if self._parsed.complete or self._eof:
                if buffer.strip():
                    yield bytes(buffer)
                    buffer.clear()
                if not self._parsed.complete:
                    raise UpstreamError("the replica closed the stream before its end")
                return
            if len(buffer) > MAX_LINE_BYTES:
                raise UpstreamError(f"a streamed line is longer than {MAX_LINE_BYTES} bytes")
            try:
                async with asyncio.timeout(idle_timeout):
                    await self._read()
            except TimeoutError:
                raise TimeoutError(f"the replica sent nothing for {idle_timeout:.0f} s") from None

    def close(self) -> None:
        self._writer.close()
