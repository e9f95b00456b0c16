"""Server-side SVG line charts (replicas, traffic, what-if previews).

`line_chart` returns a standalone ``<svg>`` string: every text and attribute value it writes
is escaped, so the result is safe to ``mark_safe``. Elements carry CSS classes (``chart-grid``,
``chart-axis``, ``chart-tick``, ``chart-band``, ``chart-marker``, ``chart-series``,
``chart-series-<n>``, ``chart-legend``, ``chart-empty``) for theming, and default colours as
presentation attributes so the chart renders without any stylesheet (CSS rules win over
presentation attributes).

Plain Python: no Django and no other app of the project. Modules: `svg` (escaping and
number formatting), `ticks` (tick steps and labels), `frame` (plot box and data domains),
`line` (the chart itself).
"""

from orchestration.web.charts.line import PALETTE, Marker, Series, change_markers, line_chart

__all__ = ["PALETTE", "Marker", "Series", "change_markers", "line_chart"]
