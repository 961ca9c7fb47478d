"""Charts drawn on the server as inline SVG markup (the transparency page).

No script and nothing the Content-Security-Policy refuses: no style attribute and no <style>
element; colours and text sizes come from classes in static/css/transparency.css. Each chart
is an image to assistive technology (role="img", named by its <title>, described by its <desc>)
and the page follows it with a table of the same figures, which is what screen readers read.

The charts know nothing of suppression: a point carries either the exact value to draw, or
only `below` (the threshold a suppressed count is under), which is drawn the same for every
such count. Nothing drawn or written can depend on a value the point does not carry.

Sized by a viewBox 320 units wide and scaled to the width of the page, so the text is legible
on a 320 px phone. Right-to-left pages get the chart mirrored (time runs from right to left);
text anchors then follow the text direction (SVG's "start" and "end" are relative to it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 320
_ID = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Point:
    #: Short label on the axis ("Mar 2026").
    label: str
    #: What a pointer hovering over the mark shows ("March 2026: fewer than 10").
    tooltip: str
    #: The exact value, or None when it is not published exactly.
    value: float | None = None
    #: For a suppressed count, the threshold it is under; drawn as a dashed mark up to there.
    below: float | None = None


def bar_chart(*, chart_id: str, title: str, description: str, points: Sequence[Point], rtl: bool,
              number: Callable[[float], str]) -> SafeString:
    """Horizontal bars, one row per point (long month labels fit on a phone this way)."""
    label_width, gap, right_pad = 84, 4, 24
    row, bar, top = 22, 14, 6
    x0 = label_width + gap
    plot_width = WIDTH - x0 - right_pad
    axis_y = top + row * len(points)
    height = axis_y + 22
    scale_max, ticks = _scale(points)
    mirror = _Mirror(rtl)

    def x_of(value: float) -> float:
        return x0 + plot_width * value / scale_max

    parts = []
    for tick in ticks:
        x = mirror.x(x_of(tick))
        parts.append(format_html('<line class="chart-grid" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
                                 _n(x), top, _n(x), axis_y))
        parts.append(format_html('<text class="chart-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                                 _n(x), axis_y + 15, number(tick)))
    parts.append(format_html('<line class="chart-axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
                             _n(mirror.x(x0)), top, _n(mirror.x(x0)), axis_y))
    for index, point in enumerate(points):
        y = top + row * index
        parts.append(format_html('<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
                                 _n(mirror.x(x0 - 6)), _n(y + row / 2 + 4), point.label))
        if point.value is not None:
            kind, length = "chart-bar", x_of(point.value) - x0
        elif point.below is not None:
            kind, length = "chart-bar-suppressed", x_of(point.below) - x0
        else:
            continue
        parts.append(format_html(
            '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            kind, _n(mirror.left(x0, length)), _n(y + (row - bar) / 2), _n(length), bar, point.tooltip))
    return _svg(chart_id, "chart-bars", height, title, description, parts, rtl)


def line_chart(*, chart_id: str, title: str, description: str, points: Sequence[Point], rtl: bool,
               number: Callable[[float], str]) -> SafeString:
    """A line over the months, oldest first. A suppressed count is a dashed whisker from 0 up
    to the threshold; a point with neither value nor threshold is a gap in the line."""
    scale_max, ticks = _scale(points)
    tick_labels = [number(t) for t in ticks]
    x0 = 8 + 7 * max(len(text) for text in tick_labels)
    x1, top, plot_height = WIDTH - 14, 10, 150
    axis_y = top + plot_height
    height = axis_y + 30
    mirror = _Mirror(rtl)
    step = (x1 - x0) / (len(points) - 1) if len(points) > 1 else 0

    def x_of(index: int) -> float:
        return mirror.x(x0 + step * index if len(points) > 1 else (x0 + x1) / 2)

    def y_of(value: float) -> float:
        return axis_y - plot_height * value / scale_max

    parts = []
    for tick, text in zip(ticks, tick_labels, strict=True):
        y = y_of(tick)
        parts.append(format_html('<line class="chart-grid" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
                                 _n(mirror.x(x0)), _n(y), _n(mirror.x(x1)), _n(y)))
        parts.append(format_html('<text class="chart-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                                 _n(mirror.x(x0 - 4)), _n(y + 4), text))
    parts.append(format_html('<line class="chart-axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
                             _n(mirror.x(x0)), axis_y, _n(mirror.x(x1)), axis_y))
    # At most three month labels, always the newest. The newest ends at its point and the oldest
    # starts at its point, so neither runs off the chart ("start" and "end" follow the text
    # direction, which is also the chart's); those between are centred.
    every = max(1, math.ceil(len(points) / 3))
    for index in range(len(points) - 1, -1, -every):
        anchor = "end" if index == len(points) - 1 and index else "start" if index == 0 else "middle"
        parts.append(format_html('<text class="chart-label" x="{}" y="{}" text-anchor="{}">{}</text>',
                                 _n(x_of(index)), axis_y + 18, anchor, points[index].label))
    run: list[tuple[float, float]] = []
    runs = [run]
    for index, point in enumerate(points):
        if point.value is None:
            run = []
            runs.append(run)
            continue
        run.append((x_of(index), y_of(point.value)))
    for segment in runs:
        if len(segment) > 1:
            parts.append(format_html('<polyline class="chart-line" points="{}"></polyline>',
                                     " ".join(f"{_n(x)},{_n(y)}" for x, y in segment)))
    for index, point in enumerate(points):
        x = x_of(index)
        if point.value is not None:
            parts.append(format_html('<circle class="chart-point" cx="{}" cy="{}" r="3.5"><title>{}</title></circle>',
                                     _n(x), _n(y_of(point.value)), point.tooltip))
        elif point.below is not None:
            parts.append(format_html(
                '<line class="chart-whisker" x1="{}" y1="{}" x2="{}" y2="{}"><title>{}</title></line>',
                _n(x), axis_y, _n(x), _n(y_of(point.below)), point.tooltip))
    return _svg(chart_id, "chart-line-chart", height, title, description, parts, rtl)


class _Mirror:
    """x coordinates for left to right, mirrored for right to left."""

    def __init__(self, rtl: bool) -> None:
        self.rtl = rtl

    def x(self, x: float) -> float:
        return WIDTH - x if self.rtl else x

    def left(self, x: float, length: float) -> float:
        """The left edge of something that starts at x and extends `length` towards the end."""
        return WIDTH - x - length if self.rtl else x


def _scale(points: Sequence[Point]) -> tuple[float, list[float]]:
    """The axis maximum and its ticks, from what the points carry (never from anything else)."""
    drawn = [p.value for p in points if p.value is not None] + [p.below for p in points if p.below is not None]
    # Nothing to draw, or only zeros (a median of 0 minutes): an axis to 10 rather than none.
    top = max(drawn, default=0) or 10.0
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    count = math.ceil(top / step - 1e-9)
    return step * count, [step * i for i in range(count + 1)]


def _svg(chart_id: str, kind: str, height: float, title: str, description: str, parts: list[SafeString],
         rtl: bool) -> SafeString:
    if not _ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r}: lower-case letters, digits and hyphens")
    return format_html(
        '<svg class="chart {} {}" viewBox="0 0 {} {}" width="100%" role="img" aria-labelledby="{}-title" '
        'aria-describedby="{}-desc"><title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}</svg>',
        kind, "chart-rtl" if rtl else "chart-ltr", WIDTH, _n(height), chart_id, chart_id, chart_id, title,
        chart_id, description, format_html_join("", "{}", ((part,) for part in parts)),
    )


def _n(value: float) -> str:
    """Coordinates with at most one decimal: shorter markup, same drawing."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
