"""reports/dashboard_charts.py: the geometry the dashboard's SVGs are drawn from.

Why: a chart can be wrong without any error (a line broken into dots at every missing run, an
axis labelled 1.7 min, 3.3 min, a 0.3 % wobble drawn as a cliff); these are the numbers the
template draws, so they are checked directly.
"""

from __future__ import annotations

import pytest

from doorbell_ci.reports.dashboard_charts import figure_text, line_chart, seconds_text, seconds_ticks


def _points(segment: str) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in segment.split()]  # type: ignore[misc]


def test_a_missing_value_is_joined_across_not_a_break() -> None:
    """One platform's line over interleaved runs: its values sit at every other column, one line."""
    chart = line_chart(6, [("linux", [1.0, None, 2.0, None, 3.0, None])], [""] * 6, width=300, height=100)
    (line,) = chart.series
    assert len(line["segments"]) == 1 and line["dots"] == []
    points = _points(line["segments"][0])
    assert len(points) == 3 and points[0][0] < points[1][0] < points[2][0]
    assert points[0][1] > points[1][1] > points[2][1]  # higher values are higher up (smaller y)
    assert line["last"][2] == "3 s"


def test_a_single_value_is_a_dot() -> None:
    chart = line_chart(4, [("new", [None, None, None, 0.5])], [""] * 4, width=200, height=80)
    assert chart.series[0]["segments"] == [] and len(chart.series[0]["dots"]) == 1


def test_every_point_lies_inside_the_plot() -> None:
    values = [0.0, 12.5, 400.0, 3.0, None, 250.0]
    chart = line_chart(len(values), [("suite", values)], [f"c{i}" for i in range(6)], width=600, height=200)
    for x, y in _points(chart.series[0]["segments"][0]):
        assert chart.left <= x <= chart.width - chart.right
        assert chart.top <= y <= chart.plot_bottom
    assert [label for _, label in chart.x_ticks][0] == "c0"


@pytest.mark.parametrize(("high", "unit"), [(400.0, "min"), (9.0, "s"), (0.045, "ms"), (3e-5, "µs")])
def test_an_axis_reads_in_one_unit_with_round_steps(high: float, unit: str) -> None:
    ticks, label = seconds_ticks(0.0, high)
    labels = [label(t) for t in ticks]
    assert all(text.endswith(f" {unit}") for text in labels), labels  # not "100 s, 3.3 min"
    assert ticks[0] == 0 and ticks[-1] >= high * (1 - 1e-9) and 3 <= len(ticks) <= 6
    shown = [float(text.split()[0]) for text in labels]  # the numbers as read, in the axis's unit
    steps = {round(b - a, 9) for a, b in zip(shown, shown[1:], strict=False)}
    assert len(steps) == 1, labels
    mantissa = float(f"{steps.pop():e}".split("e")[0])
    assert mantissa in (1.0, 2.0, 2.5, 5.0), labels


def test_minutes_from_two_minutes_up() -> None:
    ticks, label = seconds_ticks(0.0, 400.0)
    assert [label(t) for t in ticks] == ["0 min", "2 min", "4 min", "6 min", "8 min"]


def test_a_sparkline_keeps_small_changes_small() -> None:
    """A 0.3 % drift must not fill the box the way a 30 % jump does."""
    flat = line_chart(3, [("b", [100.0, 100.15, 100.3])], [""] * 3, width=300, height=36, low_zero=False, spark=True)
    jump = line_chart(3, [("b", [100.0, 115.0, 130.0])], [""] * 3, width=300, height=36, low_zero=False, spark=True)
    rise = [(p[0][1] - p[-1][1]) for p in (_points(c.series[0]["segments"][0]) for c in (flat, jump))]
    assert rise[0] < 0.1 * rise[1] and rise[1] > 25


def test_figures_in_their_units() -> None:
    assert seconds_text(0.0123) == "12.3 ms" and seconds_text(300) == "5.0 min" and seconds_text(None) == "–"
    assert figure_text(1_206_000, "instructions") == "1.206M instr."
    assert figure_text(3 * 2**20, "bytes") == "3 MiB" and figure_text(0.002, "s") == "2 ms"
