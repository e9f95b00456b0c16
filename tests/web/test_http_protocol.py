"""The web server's protocol sends each response in one write, and loses nothing."""

from __future__ import annotations

import asyncio
import time

import httpx

from orchestration.http_protocol import _JoinedWrites


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default


def test_writes_in_one_step_go_out_as_one_and_close_sends_what_was_written():
    async def go():
        raw = _Recorder()
        joined = _JoinedWrites(raw, asyncio.get_running_loop())
        joined.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        joined.write(b"{}")
        assert raw.writes == []
        assert joined.get_write_buffer_size() == 40
        await asyncio.sleep(0)
        assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        joined.write(b"last")
        joined.close()
        assert raw.writes[-1] == b"last" and raw.closed
        # Everything else is the transport's own.
        assert joined.get_extra_info("peername") == ("127.0.0.1", 1)

    asyncio.run(go())


def test_nothing_is_written_to_a_transport_that_closed_meanwhile():
    async def go():
        raw = _Recorder()
        joined = _JoinedWrites(raw, asyncio.get_running_loop())
        joined.write(b"late")
        raw.closed = True  # the peer went away before the loop came round
        await asyncio.sleep(0)
        assert raw.writes == []

    asyncio.run(go())


def test_pages_and_api_answers_come_back_whole_on_kept_alive_connections(asgi_server):
    with httpx.Client(base_url=asgi_server, timeout=10) as client:
        for _ in range(20):
            page = client.get("/login/")
            assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
            refused = client.post("/v2/models/m/outputs", content=b"{}")
            assert refused.status_code == 401 and refused.json()["status"]["code"] == 11009
        # A body larger than the socket buffers: flow control still sees every byte.
        big = client.get("/static/js/htmx.min.js")
        assert big.status_code == 200
        assert int(big.headers["content-length"]) == len(big.content) > 40_000
    started = time.monotonic()
    assert httpx.get(f"{asgi_server}/login/").status_code == 200
    assert time.monotonic() - started < 5
