"""Tick steps and tick labels: round numbers, clock-friendly time steps, relative times."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

from orchestration.web.charts.svg import fmt_value

# Time steps in seconds: 1 s … 1 week, each a step a clock reader finds natural.
TIME_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)


def nice_step(span: float, max_ticks: int, integer: bool) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that covers ``span`` in at most ``max_ticks``."""
    raw = span / max(1, max_ticks)
    if raw <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = 10 * magnitude
    for mult in (1, 2, 2.5, 5, 10):
        candidate = mult * magnitude
        if integer and candidate != int(candidate):
            continue
        if candidate >= raw - 1e-12:
            step = candidate
            break
    if integer:
        step = max(1.0, step)
    return step


def time_step(span: float, max_ticks: int) -> float:
    """The smallest of `TIME_STEPS` (or a multiple of a week) that fits ``max_ticks``."""
    for step in TIME_STEPS:
        if span / step <= max_ticks:
            return float(step)
    return float(TIME_STEPS[-1] * math.ceil(span / (TIME_STEPS[-1] * max_ticks)))


def relative_label(offset: float, step: float) -> str:
    """The label ``offset`` seconds before the right edge: "now", "-30 min", "-2 h", "-15 s"."""
    if offset <= 0:
        return "now"
    if step % 3600 == 0:
        return f"-{fmt_value(offset / 3600)} h"
    if step % 60 == 0:
        return f"-{fmt_value(offset / 60)} min"
    return f"-{fmt_value(offset)} s"


def x_ticks(
    lo: float, hi: float, max_ticks: int, x_is_time: bool, time_format: str, tz: tzinfo | None
) -> list[tuple[float, str]]:
    """(x, label) pairs for the x axis over [lo, hi], left to right."""
    if x_is_time and time_format == "relative":
        return _relative_ticks(lo, hi, max_ticks)
    if x_is_time:
        return _clock_ticks(lo, hi, max_ticks, tz or UTC)
    return _number_ticks(lo, hi, max_ticks)


def _relative_ticks(lo: float, hi: float, max_ticks: int) -> list[tuple[float, str]]:
    """Ticks counted back from the right edge ("now")."""
    step = time_step(hi - lo, max_ticks)
    ticks = []
    k = 0
    while hi - k * step >= lo - 1e-9:
        ticks.append((hi - k * step, relative_label(k * step, step)))
        k += 1
    return ticks[::-1]


def _clock_ticks(lo: float, hi: float, max_ticks: int, zone: tzinfo) -> list[tuple[float, str]]:
    """Ticks on round wall-clock times in ``zone`` (its offset at ``lo``)."""
    step = time_step(hi - lo, max_ticks)
    offset = datetime.fromtimestamp(lo, zone).utcoffset()
    shift = offset.total_seconds() if offset else 0.0
    if step < 60:
        fmt = "%H:%M:%S"
    elif step >= 86400:
        fmt = "%b %d"
    else:
        fmt = "%H:%M"
    first = math.ceil((lo + shift) / step - 1e-9) * step - shift
    ticks = []
    x = first
    while x <= hi + 1e-9:
        ticks.append((x, datetime.fromtimestamp(x, zone).strftime(fmt)))
        x += step
    return ticks


def _number_ticks(lo: float, hi: float, max_ticks: int) -> list[tuple[float, str]]:
    """Ticks on round numbers."""
    step = nice_step(hi - lo, max_ticks, integer=False)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    x = first
    while x <= hi + 1e-9:
        ticks.append((x, fmt_value(x)))
        x += step
    return ticks
