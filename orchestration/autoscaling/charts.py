"""Server-side SVG line charts (replicas, traffic, what-if previews).

`line_chart` returns a standalone ``<svg>`` string: every text and attribute value it writes
is escaped, so the result is safe to ``mark_safe``. Elements carry CSS classes (``chart-grid``,
``chart-axis``, ``chart-tick``, ``chart-band``, ``chart-marker``, ``chart-series``,
``chart-series-<n>``, ``chart-legend``, ``chart-empty``) for theming, and default colours as
presentation attributes so the chart renders without any stylesheet (CSS rules win over
presentation attributes).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Protocol

__all__ = ["PALETTE", "Marker", "Series", "change_markers", "line_chart"]

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626")
MARKER_COLOR = "#9333ea"
EMPTY_TEXT = "No data yet"

_TIME_STEPS = (
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


@dataclass(frozen=True)
class Series:
    """One line. ``step=True`` draws a step line (each value holds until the next point)."""

    name: str
    points: Sequence[tuple[float, float]]
    step: bool = False
    css_class: str = ""
    color: str | None = None  # default: PALETTE by position
    dashed: bool = False


@dataclass(frozen=True)
class Marker:
    """A vertical tick at ``x`` whose ``label`` shows as a tooltip (e.g. a scaling decision)."""

    x: float
    label: str
    css_class: str = ""
    color: str | None = None


class _DecisionLike(Protocol):
    at: float
    applied: int
    reason: str


def change_markers(
    decisions: Iterable[_DecisionLike], *, start_replicas: int | None = None
) -> list[Marker]:
    """Markers for the decisions that changed the replica count, labelled with their reason."""
    markers = []
    previous = start_replicas
    for decision in decisions:
        if previous is not None and decision.applied != previous:
            markers.append(Marker(x=decision.at, label=decision.reason))
        previous = decision.applied
    return markers


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _cls(*names: str) -> str:
    """An escaped class attribute value from the non-empty names."""
    return _e(" ".join(n.strip() for n in names if n and n.strip()))


def _n(value: float) -> str:
    """A coordinate or number with at most 2 decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _fmt_value(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text


def _nice_step(span: float, max_ticks: int, integer: bool) -> float:
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


def _time_step(span: float, max_ticks: int) -> float:
    for step in _TIME_STEPS:
        if span / step <= max_ticks:
            return float(step)
    return float(_TIME_STEPS[-1] * math.ceil(span / (_TIME_STEPS[-1] * max_ticks)))


def _relative_label(offset: float, step: float) -> str:
    if offset <= 0:
        return "now"
    if step % 3600 == 0:
        return f"-{_fmt_value(offset / 3600)} h"
    if step % 60 == 0:
        return f"-{_fmt_value(offset / 60)} min"
    return f"-{_fmt_value(offset)} s"


def _x_ticks(
    lo: float, hi: float, max_ticks: int, x_is_time: bool, time_format: str, tz: tzinfo | None
) -> list[tuple[float, str]]:
    span = hi - lo
    if x_is_time and time_format == "relative":
        step = _time_step(span, max_ticks)
        ticks = []
        k = 0
        while hi - k * step >= lo - 1e-9:
            ticks.append((hi - k * step, _relative_label(k * step, step)))
            k += 1
        return ticks[::-1]
    if x_is_time:
        step = _time_step(span, max_ticks)
        zone = tz or UTC
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
    step = _nice_step(span, max_ticks, integer=False)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    x = first
    while x <= hi + 1e-9:
        ticks.append((x, _fmt_value(x)))
        x += step
    return ticks


def _finite(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    clean = []
    for x, y in points:
        fx, fy = float(x), float(y)
        if math.isfinite(fx) and math.isfinite(fy):
            clean.append((fx, fy))
    clean.sort(key=lambda p: p[0])
    return clean


def line_chart(
    series: Sequence[Series],
    *,
    width: int = 720,
    height: int = 220,
    title: str = "Chart",
    x_label: str = "",
    y_label: str = "",
    y_unit: str = "",
    band: tuple[float, float] | None = None,
    band_label: str = "min–max",
    markers: Sequence[Marker] = (),
    x_is_time: bool = True,
    time_format: str = "relative",
    tz: tzinfo | None = None,
    x_range: tuple[float, float] | None = None,
    y_min: float | None = None,
    y_max: float | None = None,
    css_class: str = "",
    chart_id: str | None = None,
    empty_text: str = EMPTY_TEXT,
) -> str:
    """Render series as an accessible SVG line chart.

    ``x_is_time``: x values are epoch seconds; ``time_format="relative"`` labels ticks "-30 min",
    "now" relative to the right edge, ``"clock"`` labels them HH:MM in ``tz`` (default UTC).
    ``x_range`` fixes the x domain (default: the data's extent). ``band`` shades a y range (e.g.
    min/max replicas). ``markers`` draw vertical ticks with tooltips. With no points at all,
    the chart shows ``empty_text`` ("No data yet").
    """
    width = max(160, int(width))
    height = max(100, int(height))
    data = [(s, _finite(s.points)) for s in series]
    has_data = any(points for _, points in data)

    if chart_id is None:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(repr((width, height, title, band, x_range)).encode())
        for s, points in data:
            digest.update(repr((s.name, s.step, points)).encode())
        chart_id = "chart-" + digest.hexdigest()[:10]
    cid = _e(chart_id)

    left = 48 + (16 if y_label else 0)
    right = 14
    top = 26
    bottom = 22 + (16 if x_label else 0)
    plot_w = width - left - right
    plot_h = height - top - bottom

    # Description for screen readers.
    summary = []
    for s, points in data:
        if points:
            summary.append(
                f"{s.name}: {len(points)} points, latest {_fmt_value(points[-1][1])}"
                + (f" {y_unit}" if y_unit else "")
            )
        else:
            summary.append(f"{s.name}: no data")
    desc = "; ".join(summary) if has_data else empty_text

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{_cls("chart", css_class)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" '
        f'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11">',
        f'<title id="{cid}-title">{_e(title)}</title>',
        f'<desc id="{cid}-desc">{_e(desc)}</desc>',
    ]

    # Legend (top row).
    lx = float(left)
    legend = ['<g class="chart-legend" fill="#374151">']
    for index, (s, _) in enumerate(data):
        color = s.color or PALETTE[index % len(PALETTE)]
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        legend.append(
            f'<g class="{_cls("chart-legend-item", f"chart-series-{index}", s.css_class)}">'
            f'<line x1="{_n(lx)}" y1="12" x2="{_n(lx + 16)}" y2="12" stroke="{_e(color)}" '
            f'stroke-width="2"{dash}/>'
            f'<text x="{_n(lx + 20)}" y="16">{_e(s.name)}</text></g>'
        )
        lx += 20 + 6.5 * len(s.name) + 14
    if band is not None and has_data:
        legend.append(
            f'<g class="chart-legend-item chart-band">'
            f'<rect x="{_n(lx)}" y="7" width="16" height="10" fill="#94a3b8" fill-opacity="0.25"/>'
            f'<text x="{_n(lx + 20)}" y="16">{_e(band_label)}</text></g>'
        )
    legend.append("</g>")

    if not has_data:
        out.append(
            f'<rect class="chart-frame" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
            f'fill="none" stroke="#e5e7eb"/>'
        )
        out.extend(legend)
        out.append(
            f'<text class="chart-empty" x="{_n(left + plot_w / 2)}" y="{_n(top + plot_h / 2)}" '
            f'text-anchor="middle" dominant-baseline="middle" fill="#6b7280" font-size="13">'
            f"{_e(empty_text)}</text>"
        )
        out.append("</svg>")
        return "".join(out)

    # Domains.
    xs = [x for _, points in data for x, _ in points]
    ys = [y for _, points in data for _, y in points]
    if band is not None:
        ys.extend(float(v) for v in band if math.isfinite(float(v)))
    if x_range is not None:
        x_lo, x_hi = float(x_range[0]), float(x_range[1])
    else:
        x_lo, x_hi = min(xs), max(xs)
    if x_hi <= x_lo:
        if x_is_time:
            x_lo = x_hi - 60.0
        else:
            x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    integer = all(abs(y - round(y)) < 1e-9 for y in ys)
    lo_y = min(0.0, min(ys)) if y_min is None else float(y_min)
    hi_y = max(ys) if y_max is None else float(y_max)
    if hi_y <= lo_y:
        hi_y = lo_y + 1.0
    y_step = _nice_step(hi_y - lo_y, max(2, plot_h // 36), integer)
    if y_max is None:
        hi_y = math.ceil(hi_y / y_step - 1e-9) * y_step
    if y_min is None:
        lo_y = math.floor(lo_y / y_step + 1e-9) * y_step

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - lo_y) / (hi_y - lo_y) * plot_h

    bottom_y = top + plot_h

    out.append(
        f'<defs><clipPath id="{cid}-clip"><rect x="{left}" y="{top - 2}" width="{plot_w}" '
        f'height="{plot_h + 4}"/></clipPath></defs>'
    )

    # Band.
    if band is not None:
        b_lo, b_hi = sorted((float(band[0]), float(band[1])))
        b_lo, b_hi = max(b_lo, lo_y), min(b_hi, hi_y)
        if b_hi >= b_lo:
            out.append(
                f'<rect class="chart-band" x="{left}" y="{_n(py(b_hi))}" width="{plot_w}" '
                f'height="{_n(max(py(b_lo) - py(b_hi), 1))}" fill="#94a3b8" fill-opacity="0.15">'
                f"<title>{_e(band_label)}: {_e(_fmt_value(band[0]))}–{_e(_fmt_value(band[1]))}"
                f"</title></rect>"
            )

    # Grid and y ticks.
    unit = f" ({y_unit})" if y_unit else ""
    grid = ['<g class="chart-grid" stroke="#e5e7eb" stroke-width="1">']
    yticks = ['<g class="chart-tick chart-tick-y" fill="#6b7280" text-anchor="end">']
    count = int(round((hi_y - lo_y) / y_step)) + 1
    for k in range(min(count, 50)):
        value = lo_y + k * y_step
        if value > hi_y + 1e-9:
            break
        y = _n(py(value))
        grid.append(f'<line x1="{left}" y1="{y}" x2="{left + plot_w}" y2="{y}"/>')
        yticks.append(f'<text x="{left - 6}" y="{y}" dy="0.32em">{_e(_fmt_value(value))}</text>')
    grid.append("</g>")
    yticks.append("</g>")

    xticks = ['<g class="chart-tick chart-tick-x" fill="#6b7280" text-anchor="middle">']
    xgrid = ['<g class="chart-grid chart-grid-x" stroke="#f3f4f6" stroke-width="1">']
    for x, label in _x_ticks(x_lo, x_hi, max(2, plot_w // 90), x_is_time, time_format, tz):
        sx = px(x)
        anchor = ""
        if sx > left + plot_w - 12:
            anchor = ' text-anchor="end"'
        elif sx < left + 12:
            anchor = ' text-anchor="start"'
        xgrid.append(f'<line x1="{_n(sx)}" y1="{top}" x2="{_n(sx)}" y2="{bottom_y}"/>')
        xticks.append(f'<text x="{_n(sx)}" y="{bottom_y + 14}"{anchor}>{_e(label)}</text>')
    xgrid.append("</g>")
    xticks.append("</g>")
    out.extend(xgrid)
    out.extend(grid)

    out.append(
        f'<g class="chart-axis" stroke="#9ca3af" stroke-width="1">'
        f'<line x1="{left}" y1="{bottom_y}" x2="{left + plot_w}" y2="{bottom_y}"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom_y}"/></g>'
    )
    out.extend(yticks)
    out.extend(xticks)
    if x_label:
        out.append(
            f'<text class="chart-axis-label" x="{_n(left + plot_w / 2)}" y="{height - 4}" '
            f'text-anchor="middle" fill="#374151">{_e(x_label)}</text>'
        )
    if y_label:
        cy = _n(top + plot_h / 2)
        out.append(
            f'<text class="chart-axis-label" x="12" y="{cy}" text-anchor="middle" '
            f'transform="rotate(-90 12 {cy})" fill="#374151">{_e(y_label + unit)}</text>'
        )

    # Markers.
    if markers:
        out.append('<g class="chart-markers">')
        for marker in markers:
            mx = float(marker.x)
            if not math.isfinite(mx) or mx < x_lo - 1e-9 or mx > x_hi + 1e-9:
                continue
            sx = _n(px(mx))
            color = _e(marker.color or MARKER_COLOR)
            out.append(
                f'<g class="{_cls("chart-marker", marker.css_class)}">'
                f"<title>{_e(marker.label)}</title>"
                f'<line x1="{sx}" y1="{top}" x2="{sx}" y2="{bottom_y}" stroke="{color}" '
                f'stroke-opacity="0.45" stroke-dasharray="2 3"/>'
                f'<line x1="{sx}" y1="{top}" x2="{sx}" y2="{top + 8}" stroke="{color}" '
                f'stroke-width="2"/>'
                f'<line x1="{sx}" y1="{top}" x2="{sx}" y2="{bottom_y}" stroke="{color}" '
                f'stroke-opacity="0" stroke-width="8" pointer-events="stroke"/></g>'
            )
        out.append("</g>")

    # Series.
    out.append(f'<g class="chart-lines" clip-path="url(#{cid}-clip)">')
    for index, (s, points) in enumerate(data):
        if not points:
            continue
        color = _e(s.color or PALETTE[index % len(PALETTE)])
        classes = _cls("chart-series", f"chart-series-{index}", s.css_class)
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        out.append(f'<g class="{classes}"><title>{_e(s.name)}</title>')
        if len(points) == 1:
            x, y = points[0]
            out.append(
                f'<circle cx="{_n(px(x))}" cy="{_n(py(y))}" r="3" fill="{color}" stroke="{color}"/>'
            )
        else:
            x0, y0 = points[0]
            parts = [f"M{_n(px(x0))} {_n(py(y0))}"]
            for x, y in points[1:]:
                if s.step:
                    parts.append(f"H{_n(px(x))}V{_n(py(y))}")
                else:
                    parts.append(f"L{_n(px(x))} {_n(py(y))}")
            if s.step and points[-1][0] < x_hi:
                parts.append(f"H{_n(px(x_hi))}")
            out.append(
                f'<path d="{"".join(parts)}" fill="none" stroke="{color}" stroke-width="2" '
                f'stroke-linejoin="round" stroke-linecap="round"{dash}/>'
            )
        out.append("</g>")
    out.append("</g>")
    out.extend(legend)
    out.append("</svg>")
    return "".join(out)
