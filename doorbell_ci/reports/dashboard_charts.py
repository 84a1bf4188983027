"""Geometry of dashboard.html's charts: axes, ticks and polyline points, computed from numbers only.

Kept apart from dashboard.py as perf_view.py is from report.html: only numbers are computed
here; names (series labels) pass through untouched and reach the page through the template's
autoescaping alone. Nothing here reads files or knows the history format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#bc4c00", "#8250df", "#1b7c83", "#9a6700", "#cf222e", "#57606a",
           "#116329")


@dataclass
class Chart:
    """Coordinates of one SVG chart; the template only draws them (strings stay in escaped text)."""

    width: int
    height: int
    left: int = 56
    right: int = 12
    top: int = 12
    bottom: int = 34
    y_ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)  # {label, color, points, dots, title}
    bars: list[dict[str, Any]] = field(default_factory=list)  # {x, y, w, h, color, title}

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(count + 3) if first + i * step <= high + step * 0.999][:count + 2]


def seconds_text(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 120:
        return f"{value / 60:.1f} min"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return "0 s" if value == 0 else f"{value / 1e-9:.3g} ns"


def figure_text(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "s":
        return seconds_text(value)
    if unit == "bytes":
        for name, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if value >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.0f} B"
    for name, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.4g}{name} instr."
    return f"{value:.0f} instr."


def seconds_ticks(low: float, high: float) -> tuple[list[float], Any]:
    """Axis ticks in one unit for the whole axis (minutes from two minutes up), so the labels read evenly."""
    scale, unit = next(((s, u) for s, u in ((60.0, "min"), (1.0, "s"), (1e-3, "ms"), (1e-6, "µs"))
                        if high >= 2 * s or s == 1e-6))
    ticks = [t * scale for t in _nice_ticks(low / scale, high / scale)]
    return ticks, lambda value: f"{value / scale:.4g} {unit}"


def line_chart(columns: int, series: list[tuple[str, list[float | None]]], x_labels: list[str],
               width: int, height: int, label: Any = seconds_text, low_zero: bool = True,
               spark: bool = False) -> Chart:
    """Lines over ``columns`` x positions; None is a run the line has no value for (it joins across it).

    ``spark`` draws a sparkline: no margins, no axes, the vertical range from the values themselves
    (at least 10 % of their level, so noise stays small).
    """
    chart = Chart(width=width, height=height)
    if spark:
        chart.left = chart.right = chart.top = chart.bottom = 3
    values = [v for _, points in series for v in points if v is not None]
    low = 0.0 if low_zero or not values else min(values)
    high = max(values, default=1.0)
    if spark:  # at least 10 % of the level tall: a 0.3 % wobble must not fill the box like a 30 % jump
        middle, half = (low + high) / 2, max((high - low) / 2, abs(low + high) * 0.025, 1e-12)
        ticks, tick_label = [middle - half, middle + half], label
    elif label is seconds_text:
        ticks, tick_label = seconds_ticks(low, high)
    else:
        ticks, tick_label = _nice_ticks(low, high), label
    low, high = ticks[0], max(ticks[-1], high)
    span = (high - low) or 1.0
    plot_w = width - chart.left - chart.right
    plot_h = height - chart.top - chart.bottom
    step = plot_w / max(1, columns - 1)

    def x(index: int) -> float:
        return round(chart.left + index * step, 1)

    def y(value: float) -> float:
        return round(chart.top + plot_h - (value - low) / span * plot_h, 1)

    if not spark:
        chart.y_ticks = [(y(t), tick_label(t)) for t in ticks]
        every = max(1, math.ceil(columns / max(1, plot_w // 76)))
        chart.x_ticks = [(x(i), x_labels[i]) for i in range(0, columns, every)]
    for number, (name, points) in enumerate(series):
        drawn = [f"{x(i)},{y(v)}" for i, v in enumerate(points) if v is not None]
        last = next(((x(i), y(v), label(v)) for i, v in reversed(list(enumerate(points))) if v is not None), None)
        chart.series.append({"label": name, "color": PALETTE[number % len(PALETTE)],
                             "segments": [" ".join(drawn)] if len(drawn) > 1 else [],
                             "dots": [d.split(",") for d in drawn] if len(drawn) == 1 else [],
                             "last": last})
    return chart
