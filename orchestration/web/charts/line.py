"""`line_chart`: series, a shaded band and markers drawn as one accessible SVG."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

from orchestration.web.charts.frame import Box, Frame, Points, finite_points
from orchestration.web.charts.svg import class_attr, esc, fmt_value, num
from orchestration.web.charts.ticks import x_ticks

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626")
MARKER_COLOR = "#9333ea"
EMPTY_TEXT = "No data yet"


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


_Data = list[tuple[Series, Points]]


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
    data = [(s, finite_points(s.points)) for s in series]
    has_data = any(points for _, points in data)
    if chart_id is None:
        chart_id = _default_id(data, width, height, title, band, x_range)
    cid = esc(chart_id)
    box = Box.fit(width, height, x_label=x_label, y_label=y_label)
    desc = _description(data, y_unit) if has_data else empty_text
    out = [_open_svg(box, cid, css_class), _title_and_desc(cid, title, desc)]
    legend = _legend(data, box, band_label if band is not None and has_data else None)
    if not has_data:
        out += [_empty_frame(box), legend, _empty_text(box, empty_text), "</svg>"]
        return "".join(out)

    frame = Frame.fit(
        box,
        [points for _, points in data],
        band=band,
        x_range=x_range,
        x_is_time=x_is_time,
        y_min=y_min,
        y_max=y_max,
    )
    out.append(_clip_path(box, cid))
    if band is not None:
        out.append(_band(frame, band, band_label))
    y_grid, y_ticks = _y_grid_and_ticks(frame)
    x_grid, x_tick_labels = _x_grid_and_ticks(frame, x_is_time, time_format, tz)
    out += [x_grid, y_grid, _axes(box), y_ticks, x_tick_labels]
    out.append(_axis_labels(box, x_label, y_label, y_unit))
    if markers:
        out.append(_markers(frame, markers))
    out += [_series_paths(frame, data, cid), legend, "</svg>"]
    return "".join(out)


def _default_id(
    data: _Data,
    width: int,
    height: int,
    title: str,
    band: tuple[float, float] | None,
    x_range: tuple[float, float] | None,
) -> str:
    """A stable id from what the chart shows, so two charts on one page get different ids."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(repr((width, height, title, band, x_range)).encode())
    for s, points in data:
        digest.update(repr((s.name, s.step, points)).encode())
    return "chart-" + digest.hexdigest()[:10]


def _description(data: _Data, y_unit: str) -> str:
    """One sentence per series for screen readers."""
    summary = []
    for s, points in data:
        if points:
            summary.append(
                f"{s.name}: {len(points)} points, latest {fmt_value(points[-1][1])}"
                + (f" {y_unit}" if y_unit else "")
            )
        else:
            summary.append(f"{s.name}: no data")
    return "; ".join(summary)


def _open_svg(box: Box, cid: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{class_attr("chart", css_class)}" '
        f'width="{box.width}" height="{box.height}" viewBox="0 0 {box.width} {box.height}" '
        f'role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11">'
    )


def _title_and_desc(cid: str, title: str, desc: str) -> str:
    return f'<title id="{cid}-title">{esc(title)}</title><desc id="{cid}-desc">{esc(desc)}</desc>'


def _series_color(s: Series, index: int) -> str:
    return s.color or PALETTE[index % len(PALETTE)]


def _legend(data: _Data, box: Box, band_label: str | None) -> str:
    """The top row: a line sample and name per series, then the band's swatch if shown."""
    lx = float(box.left)
    legend = ['<g class="chart-legend" fill="#374151">']
    for index, (s, _) in enumerate(data):
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        legend.append(
            f'<g class="{class_attr("chart-legend-item", f"chart-series-{index}", s.css_class)}">'
            f'<line x1="{num(lx)}" y1="12" x2="{num(lx + 16)}" y2="12" '
            f'stroke="{esc(_series_color(s, index))}" stroke-width="2"{dash}/>'
            f'<text x="{num(lx + 20)}" y="16">{esc(s.name)}</text></g>'
        )
        lx += 20 + 6.5 * len(s.name) + 14
    if band_label is not None:
        legend.append(
            f'<g class="chart-legend-item chart-band">'
            f'<rect x="{num(lx)}" y="7" width="16" height="10" fill="#94a3b8" fill-opacity="0.25"/>'
            f'<text x="{num(lx + 20)}" y="16">{esc(band_label)}</text></g>'
        )
    legend.append("</g>")
    return "".join(legend)


def _empty_frame(box: Box) -> str:
    return (
        f'<rect class="chart-frame" x="{box.left}" y="{box.top}" width="{box.plot_w}" '
        f'height="{box.plot_h}" fill="none" stroke="#e5e7eb"/>'
    )


def _empty_text(box: Box, text: str) -> str:
    return (
        f'<text class="chart-empty" x="{num(box.left + box.plot_w / 2)}" '
        f'y="{num(box.top + box.plot_h / 2)}" text-anchor="middle" dominant-baseline="middle" '
        f'fill="#6b7280" font-size="13">{esc(text)}</text>'
    )


def _clip_path(box: Box, cid: str) -> str:
    return (
        f'<defs><clipPath id="{cid}-clip"><rect x="{box.left}" y="{box.top - 2}" '
        f'width="{box.plot_w}" height="{box.plot_h + 4}"/></clipPath></defs>'
    )


def _band(frame: Frame, band: tuple[float, float], label: str) -> str:
    """The shaded y range, clipped to the y domain; nothing when they do not overlap."""
    b_lo, b_hi = sorted((float(band[0]), float(band[1])))
    b_lo, b_hi = max(b_lo, frame.y_lo), min(b_hi, frame.y_hi)
    if not b_hi >= b_lo:  # also when a bound is NaN
        return ""
    top, bottom = frame.py(b_hi), frame.py(b_lo)
    return (
        f'<rect class="chart-band" x="{frame.box.left}" y="{num(top)}" '
        f'width="{frame.box.plot_w}" height="{num(max(bottom - top, 1))}" fill="#94a3b8" '
        f'fill-opacity="0.15"><title>{esc(label)}: {esc(fmt_value(band[0]))}–'
        f"{esc(fmt_value(band[1]))}</title></rect>"
    )


def _y_grid_and_ticks(frame: Frame) -> tuple[str, str]:
    """Horizontal grid lines and their value labels, one per y step (at most 50)."""
    box = frame.box
    grid = ['<g class="chart-grid" stroke="#e5e7eb" stroke-width="1">']
    ticks = ['<g class="chart-tick chart-tick-y" fill="#6b7280" text-anchor="end">']
    count = int(round((frame.y_hi - frame.y_lo) / frame.y_step)) + 1
    for k in range(min(count, 50)):
        value = frame.y_lo + k * frame.y_step
        if value > frame.y_hi + 1e-9:
            break
        y = num(frame.py(value))
        grid.append(f'<line x1="{box.left}" y1="{y}" x2="{box.left + box.plot_w}" y2="{y}"/>')
        ticks.append(f'<text x="{box.left - 6}" y="{y}" dy="0.32em">{esc(fmt_value(value))}</text>')
    return "".join(grid) + "</g>", "".join(ticks) + "</g>"


def _x_grid_and_ticks(
    frame: Frame, x_is_time: bool, time_format: str, tz: tzinfo | None
) -> tuple[str, str]:
    """Vertical grid lines and their labels; the labels at the edges are anchored inwards."""
    box = frame.box
    grid = ['<g class="chart-grid chart-grid-x" stroke="#f3f4f6" stroke-width="1">']
    ticks = ['<g class="chart-tick chart-tick-x" fill="#6b7280" text-anchor="middle">']
    max_ticks = max(2, box.plot_w // 90)
    for x, label in x_ticks(frame.x_lo, frame.x_hi, max_ticks, x_is_time, time_format, tz):
        sx = frame.px(x)
        anchor = ""
        if sx > box.left + box.plot_w - 12:
            anchor = ' text-anchor="end"'
        elif sx < box.left + 12:
            anchor = ' text-anchor="start"'
        grid.append(f'<line x1="{num(sx)}" y1="{box.top}" x2="{num(sx)}" y2="{box.bottom}"/>')
        ticks.append(f'<text x="{num(sx)}" y="{box.bottom + 14}"{anchor}>{esc(label)}</text>')
    return "".join(grid) + "</g>", "".join(ticks) + "</g>"


def _axes(box: Box) -> str:
    return (
        f'<g class="chart-axis" stroke="#9ca3af" stroke-width="1">'
        f'<line x1="{box.left}" y1="{box.bottom}" x2="{box.left + box.plot_w}" y2="{box.bottom}"/>'
        f'<line x1="{box.left}" y1="{box.top}" x2="{box.left}" y2="{box.bottom}"/></g>'
    )


def _axis_labels(box: Box, x_label: str, y_label: str, y_unit: str) -> str:
    """The x label centred below the axis, the y label (with its unit) rotated on the left."""
    out = []
    if x_label:
        out.append(
            f'<text class="chart-axis-label" x="{num(box.left + box.plot_w / 2)}" '
            f'y="{box.height - 4}" text-anchor="middle" fill="#374151">{esc(x_label)}</text>'
        )
    if y_label:
        unit = f" ({y_unit})" if y_unit else ""
        cy = num(box.top + box.plot_h / 2)
        out.append(
            f'<text class="chart-axis-label" x="12" y="{cy}" text-anchor="middle" '
            f'transform="rotate(-90 12 {cy})" fill="#374151">{esc(y_label + unit)}</text>'
        )
    return "".join(out)


def _markers(frame: Frame, markers: Sequence[Marker]) -> str:
    """A dashed line, a solid tick at the top and a wide invisible hit area per marker in range."""
    top, bottom = frame.box.top, frame.box.bottom
    out = ['<g class="chart-markers">']
    for marker in markers:
        mx = float(marker.x)
        if not math.isfinite(mx) or mx < frame.x_lo - 1e-9 or mx > frame.x_hi + 1e-9:
            continue
        sx = num(frame.px(mx))
        color = esc(marker.color or MARKER_COLOR)
        out.append(
            f'<g class="{class_attr("chart-marker", marker.css_class)}">'
            f"<title>{esc(marker.label)}</title>"
            f'<line x1="{sx}" y1="{top}" x2="{sx}" y2="{bottom}" stroke="{color}" '
            f'stroke-opacity="0.45" stroke-dasharray="2 3"/>'
            f'<line x1="{sx}" y1="{top}" x2="{sx}" y2="{top + 8}" stroke="{color}" '
            f'stroke-width="2"/>'
            f'<line x1="{sx}" y1="{top}" x2="{sx}" y2="{bottom}" stroke="{color}" '
            f'stroke-opacity="0" stroke-width="8" pointer-events="stroke"/></g>'
        )
    out.append("</g>")
    return "".join(out)


def _series_paths(frame: Frame, data: _Data, cid: str) -> str:
    """Each series with points as a path (a dot for a single point), clipped to the plot."""
    out = [f'<g class="chart-lines" clip-path="url(#{cid}-clip)">']
    for index, (s, points) in enumerate(data):
        if not points:
            continue
        color = esc(_series_color(s, index))
        classes = class_attr("chart-series", f"chart-series-{index}", s.css_class)
        out.append(f'<g class="{classes}"><title>{esc(s.name)}</title>')
        if len(points) == 1:
            cx, cy = num(frame.px(points[0][0])), num(frame.py(points[0][1]))
            out.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}" stroke="{color}"/>')
        else:
            dash = ' stroke-dasharray="4 3"' if s.dashed else ""
            out.append(
                f'<path d="{_path_data(frame, points, s.step)}" fill="none" stroke="{color}" '
                f'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"{dash}/>'
            )
        out.append("</g>")
    out.append("</g>")
    return "".join(out)


def _path_data(frame: Frame, points: Points, step: bool) -> str:
    """The ``d`` of a polyline, or of a step line held out to the right edge."""
    px, py = frame.px, frame.py
    x0, y0 = points[0]
    parts = [f"M{num(px(x0))} {num(py(y0))}"]
    for x, y in points[1:]:
        if step:
            parts.append(f"H{num(px(x))}V{num(py(y))}")
        else:
            parts.append(f"L{num(px(x))} {num(py(y))}")
    if step and points[-1][0] < frame.x_hi:
        parts.append(f"H{num(px(frame.x_hi))}")
    return "".join(parts)
