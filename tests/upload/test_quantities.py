"""Kubernetes quantities: CPU cores and memory bytes. Plain pytest, no Django."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration.quantities import (
    MAX_MEMORY_BYTES,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
)


@pytest.mark.parametrize(
    ("value", "cores"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        (1.5, 1.5),
        (2, 2.0),
        ("0.25", 0.25),
        (".5", 0.5),
        ("1500m", 1.5),
        ("1m", 0.001),
        (" 4 ", 4.0),
        ("+1", 1.0),
        ("1e3", 1000.0),
        ("0", 0.0),
    ],
)
def test_parse_cpu(value, cores) -> None:
    assert parse_cpu(value) == pytest.approx(cores)
    assert isinstance(parse_cpu(value), float)


@pytest.mark.parametrize(
    "value",
    ["-1", "-500m", -1, -0.5, "", "   ", "abc", "1.5.2", "5x", "2Gi", "m", "1 m", "0x10",
     True, None, [1], float("nan"), float("inf")],
)  # fmt: skip
def test_parse_cpu_rejects(value) -> None:
    with pytest.raises(ValueError) as caught:
        parse_cpu(value)
    message = str(caught.value)
    assert "CPU quantity" in message
    if isinstance(value, str) and value.strip():
        assert repr(value) in message
    assert "500m" in message or "negative" in message


@pytest.mark.parametrize(
    ("value", "num_bytes"),
    [
        ("512Mi", 512 * 2**20),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("100M", 100 * 10**6),
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("129E6", 129_000_000),
        ("1.5Gi", 1536 * 2**20),
        ("1Ki", 1024),
        ("1k", 1000),
        ("2Ti", 2 * 2**40),
        ("1T", 10**12),
        ("1Pi", 2**50),
        ("1P", 10**15),
        ("1Ei", 2**60),
        ("1E", 10**18),
        ("0.5", 1),  # fractions of a byte round up, as in Kubernetes
        ("0", 0),
        (1024, 1024),
        (2048.0, 2048),
        (" 64Mi ", 64 * 2**20),
    ],
)
def test_parse_memory(value, num_bytes) -> None:
    assert parse_memory(value) == num_bytes
    assert isinstance(parse_memory(value), int)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("-1Gi", "negative"),
        (-5, "negative"),
        ("", "memory quantity"),
        ("lots", "Ki, Mi, Gi"),
        ("1.5.2", "memory quantity"),
        ("5x", "memory quantity"),
        ("1 Gi", "memory quantity"),
        ("500m", "did you mean 500M or 500Mi?"),
        ("512MB", "did you mean 512Mi or 512M?"),
        ("1GiB", "did you mean 1Gi or 1G?"),
        ("1gi", "did you mean 1Gi or 1G?"),
        ("2K", "did you mean 2Ki or 2k?"),
        ("9Ei", "too large"),
        ("1e999", "memory quantity"),
        (True, "memory quantity"),
        (None, "memory quantity"),
        (float("inf"), "memory quantity"),
    ],
)
def test_parse_memory_rejects(value, fragment) -> None:
    with pytest.raises(ValueError, match="memory quantity") as caught:
        parse_memory(value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("num_bytes", "text"),
    [
        (0, "0"),
        (1, "1"),
        (1000, "1k"),
        (1024, "1Ki"),
        (1536, "1536"),
        (512 * 2**20, "512Mi"),
        (1536 * 2**20, "1.5Gi"),
        (2**30, "1Gi"),
        (10**9, "1G"),
        (100 * 10**6, "100M"),
        (128974848, "123Mi"),
        (1000 * 2**20, "1000Mi"),
        (12345, "12345"),
        (2**60, "1Ei"),
    ],
)
def test_format_memory(num_bytes, text) -> None:
    assert format_memory(num_bytes) == text


@pytest.mark.parametrize("value", [-1, 1.5, "1Gi", None, True])
def test_format_memory_rejects(value) -> None:
    with pytest.raises(ValueError):
        format_memory(value)


@pytest.mark.parametrize(
    ("cores", "text"),
    [
        (2, "2"),
        (2.0, "2"),
        (0.5, "500m"),
        (1.5, "1500m"),
        (0.001, "1m"),
        (0, "0"),
        (0.1 + 0.2, "300m"),
        (0.0005, "0.0005"),
    ],
)
def test_format_cpu(cores, text) -> None:
    assert format_cpu(cores) == text


@pytest.mark.parametrize("value", [-1, float("nan"), "2", None, True])
def test_format_cpu_rejects(value) -> None:
    with pytest.raises(ValueError):
        format_cpu(value)


@given(st.integers(min_value=0, max_value=MAX_MEMORY_BYTES))
def test_memory_round_trip(num_bytes: int) -> None:
    text = format_memory(num_bytes)
    assert parse_memory(text) == num_bytes
    assert len(text) <= len(str(num_bytes))


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["", "Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"]),
)
def test_memory_parse_then_format(number: int, suffix: str) -> None:
    num_bytes = parse_memory(f"{number}{suffix}")
    assert parse_memory(format_memory(num_bytes)) == num_bytes


@given(st.integers(min_value=0, max_value=10**8))
def test_cpu_round_trip_millicores(millicores: int) -> None:
    cores = millicores / 1000
    text = format_cpu(cores)
    assert parse_cpu(text) == cores
    assert text.endswith("m") or "." not in text
