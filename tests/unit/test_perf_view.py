"""Wording and plot geometry of the performance section (doorbell_ci.reports.perf_view)."""

from __future__ import annotations

from doorbell_ci.reports import perf_view


def test_human_time_picks_the_unit() -> None:
    assert perf_view.human_time(1.5) == "1.5 s"
    assert perf_view.human_time(0.0123) == "12.3 ms"
    assert perf_view.human_time(4.2e-6) == "4.2 µs"
    assert perf_view.human_time(3e-9) == "3 ns"
    assert perf_view.human_time(None) == "–"


def test_ratio_text_marks_insignificant_ratios() -> None:
    row = {"ratio": 1.012, "ci": [0.98, 1.04], "p_value": 0.3, "verdict": "unchanged"}
    assert perf_view.ratio_text(row) == "~1.012× (0.98–1.04)"
    row = {"ratio": 1.31, "ci": [1.26, 1.40], "p_value": 1e-9, "verdict": "regression"}
    assert perf_view.ratio_text(row) == "1.310× (1.26–1.40)"
    assert perf_view.ratio_text({"ratio": None}) == "–"


def test_samples_plot_puts_both_sides_on_one_axis() -> None:
    plot = perf_view.samples_plot({"base_samples": [1.0, 2.0], "head_samples": [3.0]})
    assert plot["base"][0] == perf_view.PAD and plot["head"][0] == perf_view.WIDTH - perf_view.PAD
    assert plot["base_y"] < plot["head_y"]
    assert perf_view.samples_plot({"base_samples": [], "head_samples": []})["empty"]


def test_trend_plot_ends_with_this_run() -> None:
    trend = perf_view.trend_plot({"trend": [1.0, 2.0, 3.0], "head_median": 1.0})
    assert trend is not None and trend["runs"] == 3
    assert trend["points"].count(",") == 4 and trend["last"][1] == perf_view.HEIGHT - perf_view.PAD
    assert perf_view.trend_plot({"trend": [], "head_median": 1.0}) is None


def test_markdown_keeps_the_order_it_is_given_and_shows_memory_regressions() -> None:
    performance = {
        "mode": "paired", "counts": {"regression": 1, "unchanged": 1},
        "benchmarks": [
            {"name": "a|b", "verdict": "regression", "ratio": 1.3, "ci": [1.2, 1.4], "p_value": 1e-6,
             "base_median": 0.01, "head_median": 0.013},
            {"name": "m", "verdict": "regression", "head_median": None,
             "memory": {"verdict": "regression", "base_bytes": 10 * 2**20, "head_bytes": 20 * 2**20}},
        ],
    }
    lines = perf_view.markdown_lines(performance)
    assert lines[0] == "### Performance (paired mode)" and "1 regression, 1 unchanged" in lines
    rows = [line for line in lines if line.startswith("| 🔴")]
    assert "`a\\|b`" in rows[0] and "1.300× (1.20–1.40)" in rows[0]
    assert "20.0 MiB" in rows[1] and "peak memory" in rows[1]
    assert perf_view.markdown_lines(None) == []


def test_instruction_counts_are_shown_in_their_unit_beside_the_wall_time() -> None:
    performance = {
        "mode": "paired", "metric": "instructions", "unit": "instructions per call",
        "counts": {"regression": 1}, "throttled_but_comparable": "the machine throttled",
        "benchmarks": [{"name": "t.py::test_work", "verdict": "regression", "base_median": 1_000_000.0,
                        "head_median": 1_030_000.0, "ratio": 1.03, "ci": [1.029, 1.031], "p_value": 1e-6,
                        "wall_median": 0.0042}],
    }
    lines = perf_view.markdown_lines(performance)
    assert lines[0] == "### Performance (paired mode, instructions per call)"
    row = next(line for line in lines if "test_work" in line)
    assert "| 1,000,000 instr | 1,030,000 instr |" in row and row.endswith("| 4.2 ms |")
    assert any("throttled" in line and "do not depend on the clock" in line for line in lines)
    plot = perf_view.samples_plot({"base_samples": [100.0], "head_samples": [103.0]}, "instructions")
    assert plot["low"] == "100 instr" and plot["high"] == "103 instr"


def test_adaptive_samples_are_summarised_and_marked_on_their_row() -> None:
    performance = {
        "mode": "history", "counts": {"regression": 1, "unchanged": 1},
        "adaptive": {"benchmarks": ["near"], "processes": 3, "seconds": 41.25, "budget_seconds": 60.0,
                     "first_alpha": 0.05, "second_alpha": 0.01},
        "benchmarks": [
            {"name": "near", "verdict": "regression", "ratio": 1.09, "p_value": 1e-4, "base_median": 0.01,
             "head_median": 0.0109, "adaptive": {"extra_samples": 60, "seconds": 41.25}},
            {"name": "far", "verdict": "unchanged", "ratio": 1.0, "p_value": 0.5, "base_median": 0.01,
             "head_median": 0.01},
        ],
    }
    lines = perf_view.markdown_lines(performance)
    assert ("Adaptive samples: 1 benchmark(s) close to the line measured again in 3 extra process(es), 41.2 s of "
            "the 60 s budget; decided at p < 0.01 (Holm) on the pooled samples, the first look at 0.05.") in lines
    near = next(line for line in lines if "`near`" in line)
    far = next(line for line in lines if "`far`" in line)
    assert "+60 samples" in near.replace("\\", "") and "samples" not in far
    performance["adaptive"]["benchmarks"] = []  # nothing close to the line: no sentence
    assert not any(line.startswith("Adaptive samples") for line in perf_view.markdown_lines(performance))
