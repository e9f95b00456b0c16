"""The router's keep-alive client against a real (local, standard-library) HTTP server."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestration import jsonsafe
from orchestration.predict.upstream import UpstreamError, UpstreamPool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set = set()

    def setup(self):
        super().setup()
        _Handler.connections.add(self.client_address)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"a":', b"1}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/close":
            self.close_connection = True
        out = json.dumps({"echo": json.loads(body)}).encode()
        self.send_response(201 if self.path == "/created" else 200)
        self.send_header("Content-Length", str(len(out)))
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.connections = set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _address(httpd) -> str:
    return f"127.0.0.1:{httpd.server_address[1]}"


def test_reuses_one_connection_for_many_requests(server):
    async def go():
        pool = UpstreamPool()
        answers = [await pool.post_json(_address(server), "/", b'{"n":%d}' % i) for i in range(5)]
        pool.close()
        return answers

    answers = asyncio.run(go())
    assert [jsonsafe.loads(body)["echo"]["n"] for _, body in answers] == [0, 1, 2, 3, 4]
    assert {status for status, _ in answers} == {200}
    assert len(_Handler.connections) == 1


def test_status_and_chunked_bodies_come_back(server):
    async def go():
        pool = UpstreamPool()
        created = await pool.post_json(_address(server), "/created", b"{}")
        chunked = await pool.post_json(_address(server), "/chunked", b"{}")
        pool.close()
        return created, chunked

    created, chunked = asyncio.run(go())
    assert created[0] == 201
    assert chunked == (200, b'{"a":1}')


def test_a_connection_the_server_closed_is_replaced(server):
    async def go():
        pool = UpstreamPool()
        first = await pool.post_json(_address(server), "/close", b"{}")
        second = await pool.post_json(_address(server), "/", b"{}")
        pool.close()
        return first, second

    first, second = asyncio.run(go())
    assert first[0] == second[0] == 200
    assert len(_Handler.connections) == 2


def test_an_idle_connection_closed_meanwhile_is_retried_once_fresh(server):
    async def go():
        pool = UpstreamPool()
        await pool.post_json(_address(server), "/", b"{}")
        # The replica drops its idle keep-alive connections (a restart, its idle timeout).
        for connection in pool._idle[_address(server)]:
            connection.transport.abort()
        await asyncio.sleep(0.05)
        answer = await pool.post_json(_address(server), "/", b"{}")
        pool.close()
        return answer

    assert asyncio.run(go())[0] == 200


def test_nothing_listening_is_an_upstream_error():
    async def go():
        pool = UpstreamPool()
        await pool.post_json("127.0.0.1:9", "/", b"{}", connect_timeout=1.0)

    with pytest.raises(UpstreamError, match="cannot connect to 127.0.0.1:9"):
        asyncio.run(go())


def test_a_connect_nothing_answers_gives_up_at_its_timeout():
    async def go():
        # TEST-NET-1: no host answers there, so only the timeout ends the connect.
        await UpstreamPool().post_json("192.0.2.1:80", "/", b"{}", connect_timeout=0.2)

    with pytest.raises(UpstreamError, match="192.0.2.1:80"):
        asyncio.run(go())


def test_an_answer_past_the_limit_is_refused(server):
    async def go():
        pool = UpstreamPool(max_body=10)
        await pool.post_json(_address(server), "/", b'{"long": "' + b"x" * 100 + b'"}')

    with pytest.raises(UpstreamError, match="larger than 10 bytes"):
        asyncio.run(go())


def test_jsonsafe_fast_path_keeps_big_integers_and_names_errors():
    assert jsonsafe.loads(b'{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }
    assert jsonsafe.dumpb({"n": 2**70}) == b'{"n":1180591620717411303424}'
    with pytest.raises(jsonsafe.JSONError, match="NaN"):
        jsonsafe.loads(b"[NaN]")
    with pytest.raises(jsonsafe.JSONError, match="out of range"):
        jsonsafe.loads(b"[1e400]")


def test_a_pool_left_by_an_ended_event_loop_closes_quietly(server):
    """A pool whose loop ended (a gRPC server thread's, a test's) is closed by the next
    loop's first request: closing must not raise "Event loop is closed" (which was a 500)."""

    async def go():
        pool = UpstreamPool()
        await pool.post_json(_address(server), "/", b'{"n":1}')
        return pool

    pool = asyncio.run(go())  # the loop ends with the connection still pooled
    pool.close()
    assert all(not idle for idle in pool._idle.values())
