"""Reading a log at the engine boundary: timestamps, bounds on lines and time, and the
query parameters' checks."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from orchestration import docker_engine
from orchestration.deployments import logs
from orchestration.docker_engine.logs import (
    MAX_LINE_CHARS,
    format_ns,
    parse_lines,
    parse_stamp,
)


def test_lines_keep_the_engines_timestamps_to_the_nanosecond():
    raw = (
        b"2026-12-03T23:00:23.764480601Z hello 3\n"
        b"2026-12-03T23:00:23.9649Z with trailing zeros dropped\r\n"
        b"2026-12-03T23:00:24Z \n"
        b"no stamp at all\n"
        b"2026-12-03T23:00:25.000000001Z caf\xc3\xa9 \xff bad byte\n"
    )
    got = parse_lines(raw)
    assert [line.text for line in got] == [
        "hello 3",
        "with trailing zeros dropped",
        "",
        "no stamp at all",
        "café \ufffd bad byte",
    ]
    assert got[0].at == "2026-12-03T23:00:23.764480601Z"
    assert got[1].at == "2026-12-03T23:00:23.964900000Z"
    assert got[0].clock == "23:00:23.764"
    assert got[3].at_ns == 0 and got[3].at == ""
    assert got[4].at_ns - got[2].at_ns == 1_000_000_001


def test_since_keeps_only_later_lines_and_round_trips():
    raw = b"".join(f"2026-12-03T23:00:2{i}.5Z line {i}\n".encode() for i in range(5))
    every = parse_lines(raw)
    cut = every[2].at_ns
    assert [line.text for line in parse_lines(raw, after_ns=cut)] == ["line 3", "line 4"]
    assert parse_stamp(format_ns(cut)) == cut
    assert parse_stamp(every[2].at) == cut
    assert parse_stamp("2026-12-03T23:00:22.5Z") == cut
    for bad in ("", "yesterday", "2026-13-03T23:00:22Z", "2026-12-03T23:00:22Z extra"):
        assert parse_stamp(bad) is None


def test_long_lines_are_cut():
    raw = b"2026-12-03T23:00:23Z " + b"x" * (MAX_LINE_CHARS + 10) + b"\n"
    (line,) = parse_lines(raw)
    assert line.text.startswith("x" * MAX_LINE_CHARS)
    assert line.text.endswith("[10 more characters cut]")


def test_since_takes_a_line_stamp_or_unix_seconds():
    assert logs.parse_since(None) == 0
    assert logs.parse_since("2026-12-03T23:00:23.764480601Z") == 1_796_338_823_764_480_601
    assert logs.parse_since("1796338823.5") == 1_796_338_823_500_000_000
    for bad in ("abc", "-1", "nan", "inf", "1e300", "2026-12-03"):
        with pytest.raises(logs.LogParamError) as refused:
            logs.parse_since(bad)
        assert refused.value.param == "since"


def _silent_engine():
    """A TCP port that accepts connections and never answers: a hung engine."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()

    def close():
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()

    return f"tcp://127.0.0.1:{server.getsockname()[1]}", close


@pytest.mark.parametrize("read", [docker_engine.container_log, docker_engine.container_log_bytes])
def test_a_silent_engine_is_given_up_on_within_the_timeout(read):
    url, close = _silent_engine()
    try:
        started = time.monotonic()
        with pytest.raises(docker_engine.EngineUnreachable) as unreachable:
            read(url, "abc", timeout=1.0)
        waited = time.monotonic() - started
    finally:
        close()
    assert waited < 2.5, waited
    assert url in str(unreachable.value)


def test_a_refused_connection_is_unreachable_at_once():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(docker_engine.EngineUnreachable):
        docker_engine.container_log(f"tcp://127.0.0.1:{port}", "abc", timeout=3.0)
    assert time.monotonic() - started < 2
