"""Server-side SVG charts: valid XML, escaped texts, legends, empty data, pinned output."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET

import pytest

from orchestration.autoscaling.policy import Decision
from orchestration.web.charts import Marker, Series, change_markers, line_chart
from orchestration.web.charts.svg import fmt_value, num
from orchestration.web.charts.ticks import nice_step, relative_label, time_step, x_ticks

NS = {"svg": "http://www.w3.org/2000/svg"}
NOW = 1_700_000_000.0


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is valid XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def hour_of(values):
    return [(NOW - 3600 + 60 * k, v) for k, v in enumerate(values)]


def test_chart_parses_with_legend_title_and_ticks():
    replicas = Series("Replicas", hour_of([1, 1, 2, 3] * 15 + [3]), step=True, css_class="rep")
    inflight = Series("In-flight", hour_of([0.5 * k for k in range(61)]))
    svg = line_chart(
        [replicas, inflight],
        title="Replicas over the last hour",
        x_label="time",
        y_label="Replicas",
        band=(1, 5),
        markers=[Marker(x=NOW - 600, label="scale up 1→3")],
    )
    root = parse(svg)
    title = root.find("svg:title", NS)
    assert title is not None and title.text == "Replicas over the last hour"
    assert root.get("aria-labelledby", "").split()[0] == title.get("id")
    labels = texts(root)
    assert "Replicas" in labels and "In-flight" in labels
    assert {"now", "-30 min", "-60 min"} <= set(labels)
    assert root.find(".//svg:rect[@class='chart-band']", NS) is not None
    marker = root.find(".//svg:g[@class='chart-marker']/svg:title", NS)
    assert marker is not None and marker.text == "scale up 1→3"
    step_path = root.find(".//svg:g[@class='chart-series chart-series-0 rep']/svg:path", NS)
    assert step_path is not None and "V" in step_path.get("d") and "H" in step_path.get("d")
    line_path = root.find(".//svg:g[@class='chart-series chart-series-1']/svg:path", NS)
    assert line_path is not None and "L" in line_path.get("d")
    # Default colours come as attributes, so the chart renders without CSS.
    assert line_path.get("stroke", "").startswith("#")


def test_texts_are_escaped():
    evil = "<script>alert(1)</script>"
    svg = line_chart(
        [Series(evil, hour_of([1, 2]), color='red"/><script>x</script>', css_class='a" onload="x')],
        title=evil,
        y_label=evil,
        y_unit="<b>",
        markers=[Marker(x=NOW - 3600, label=evil)],
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    root = parse(svg)
    assert evil in texts(root)
    assert root.find("svg:title", NS).text == evil
    assert not any(el.get("onload") for el in root.iter())


def test_empty_data_renders_placeholder():
    for series in ([], [Series("Replicas", [])], [Series("Bad", [(float("nan"), 1.0)])]):
        root = parse(line_chart(series, title="Replicas"))
        assert "No data yet" in texts(root)
        assert root.find(".//svg:path", NS) is None


def test_single_point_draws_a_dot():
    root = parse(line_chart([Series("Replicas", [(NOW, 2)])], title="t"))
    assert root.find(".//svg:circle", NS) is not None
    assert "now" in texts(root)
    root = parse(line_chart([Series("x", [(3.0, 2.5)])], title="t", x_is_time=False))
    assert root.find(".//svg:circle", NS) is not None


def test_clock_labels_and_numeric_axes():
    root = parse(line_chart([Series("a", hour_of(range(61)))], title="t", time_format="clock"))
    assert any(re.fullmatch(r"\d\d:\d\d", label) for label in texts(root))
    root = parse(line_chart([Series("a", [(0, 0), (10, 4)])], title="t", x_is_time=False))
    assert {"0", "10"} <= set(texts(root))


def test_change_markers_only_for_changes():
    decisions = [
        Decision(at=0.0, wanted=1, applied=1, reason="hold"),
        Decision(at=5.0, wanted=2, applied=2, reason="scale up 1→2"),
        Decision(at=10.0, wanted=2, applied=2, reason="hold"),
        Decision(at=15.0, wanted=1, applied=1, reason="scale down 2→1"),
    ]
    markers = change_markers(decisions, start_replicas=1)
    assert [(m.x, m.label) for m in markers] == [(5.0, "scale up 1→2"), (15.0, "scale down 2→1")]


def test_number_formatting():
    assert [num(v) for v in (0.0, -0.001, 1.5, 2.005, 3.0, -7.25)] == [
        "0",
        "0",
        "1.5",
        "2",
        "3",
        "-7.25",
    ]
    assert [fmt_value(v) for v in (2.0, 2.0000000001, 0.125, 12.5)] == ["2", "2", "0.12", "12.5"]


def test_tick_steps():
    assert nice_step(10, 5, integer=False) == 2
    assert nice_step(1, 4, integer=False) == 0.25
    assert nice_step(1, 4, integer=True) == 1
    assert nice_step(0, 4, integer=False) == 1
    assert time_step(3600, 8) == 600
    assert time_step(30, 8) == 5
    assert time_step(10 * 604800, 2) == 5 * 604800
    assert [relative_label(o, s) for o, s in ((0, 60), (1800, 600), (7200, 3600), (15, 5))] == [
        "now",
        "-30 min",
        "-2 h",
        "-15 s",
    ]
    assert x_ticks(0, 10, 5, False, "relative", None) == [
        (0, "0"),
        (2, "2"),
        (4, "4"),
        (6, "6"),
        (8, "8"),
        (10, "10"),
    ]


def minutes(values, step=60.0):
    return [(NOW - step * (len(values) - 1 - k), v) for k, v in enumerate(values)]


# The first 16 hex digits of each chart's SHA-256, recorded from the single-module renderer
# before it was split into orchestration/web/charts/: the markup must not change by accident.
# After an intended change to the drawing, look at the new output and record the new digests.
PINNED = {
    "empty": (
        "9bacae5ab49e522a",
        [],
        {"title": "Empty", "band": (1, 3), "x_label": "t", "y_label": "y"},
    ),
    "one point": ("d9224251b7626aa4", [Series("Replicas", [(NOW, 2)])], {"title": "t"}),
    "step, band, markers": (
        "0d359b529ca4b874",
        [
            Series("Replicas", minutes([1, 1, 2, 3] * 15 + [3]), step=True, css_class="rep"),
            Series("In-flight", minutes([0.5 * k for k in range(61)]), dashed=True),
        ],
        {
            "title": "Replicas",
            "x_label": "time",
            "y_label": "Replicas",
            "y_unit": "req",
            "band": (1, 5),
            "markers": [Marker(x=NOW - 600, label="scale up 1→3")],
            "x_range": (NOW - 3600, NOW + 120),
        },
    ),
    "clock, seconds": (
        "e89b3c7cf7e28668",
        [Series("a", minutes(list(range(30)), step=17.0))],
        {"title": "t", "time_format": "clock", "width": 500},
    ),
    "relative, days": (
        "96d1e4f78c53648f",
        [Series("a", minutes([1, 2, 3], step=432000.0))],
        {"title": "d"},
    ),
    "numbers, y limits": (
        "ea4aa16605a540d3",
        [Series("a", [(0, 0), (10, 4)]), Series("b", [(2, -3.5), (7.3, 12.25)])],
        {"title": "t", "x_is_time": False, "y_min": -2, "y_max": 8, "chart_id": "c"},
    ),
}


@pytest.mark.parametrize("name", PINNED)
def test_rendered_markup_is_pinned(name):
    digest, series, options = PINNED[name]
    svg = line_chart(series, **options)
    parse(svg)
    assert hashlib.sha256(svg.encode()).hexdigest()[:16] == digest
