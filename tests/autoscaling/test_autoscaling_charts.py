"""Server-side SVG charts: valid XML, escaped texts, legends, empty data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from orchestration.autoscaling.charts import Marker, Series, change_markers, line_chart
from orchestration.autoscaling.policy import Decision

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
