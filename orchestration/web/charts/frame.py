"""Where a chart draws: the plot box inside the SVG and the data domains it maps onto it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestration.web.charts.ticks import nice_step

Points = list[tuple[float, float]]


def finite_points(points: Iterable[tuple[float, float]]) -> Points:
    """The points with finite coordinates, as floats, sorted by x."""
    clean = []
    for x, y in points:
        fx, fy = float(x), float(y)
        if math.isfinite(fx) and math.isfinite(fy):
            clean.append((fx, fy))
    clean.sort(key=lambda p: p[0])
    return clean


@dataclass(frozen=True)
class Box:
    """The SVG's size and the plot area's position in it (room left for legend and labels)."""

    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int

    @classmethod
    def fit(cls, width: int, height: int, *, x_label: str, y_label: str) -> Box:
        left = 48 + (16 if y_label else 0)
        right = 14
        top = 26
        bottom = 22 + (16 if x_label else 0)
        return cls(width, height, left, top, width - left - right, height - top - bottom)

    @property
    def bottom(self) -> int:
        """The y of the plot area's lower edge (the x axis)."""
        return self.top + self.plot_h


@dataclass(frozen=True)
class Frame:
    """A `Box` with the x and y domains shown in it; `px`/`py` map data to SVG coordinates."""

    box: Box
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    y_step: float

    def px(self, x: float) -> float:
        box = self.box
        return box.left + (x - self.x_lo) / (self.x_hi - self.x_lo) * box.plot_w

    def py(self, y: float) -> float:
        box = self.box
        return box.top + box.plot_h - (y - self.y_lo) / (self.y_hi - self.y_lo) * box.plot_h

    @classmethod
    def fit(
        cls,
        box: Box,
        point_lists: Sequence[Points],
        *,
        band: tuple[float, float] | None,
        x_range: tuple[float, float] | None,
        x_is_time: bool,
        y_min: float | None,
        y_max: float | None,
    ) -> Frame:
        """Domains covering the points (and the band); y rounded out to whole tick steps."""
        xs = [x for points in point_lists for x, _ in points]
        ys = [y for points in point_lists for _, y in points]
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
        y_step = nice_step(hi_y - lo_y, max(2, box.plot_h // 36), integer)
        if y_max is None:
            hi_y = math.ceil(hi_y / y_step - 1e-9) * y_step
        if y_min is None:
            lo_y = math.floor(lo_y / y_step + 1e-9) * y_step
        return cls(box, x_lo, x_hi, lo_y, hi_y, y_step)
