"""Geometry and wording for the performance section of report.html and summary.md.

The HTML template draws the inline SVGs from the numbers computed here (coordinates only, so
autoescaping still covers every string); nothing here touches files.
"""

from __future__ import annotations

import math
from typing import Any

from doorbell_ci.reports.text import md_cell_code, md_inline

WIDTH, HEIGHT, PAD = 240, 56, 4
ICONS = {"regression": "🔴", "possible regression": "🟠", "improvement": "🟢", "unchanged": "⚪",
         "noisy": "〰️", "no baseline": "➖"}


def human_time(seconds: float | None) -> str:
    """Seconds per call in the unit that reads best (ns to s)."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def human_value(value: float | None, metric: str | None = "wall") -> str:
    """A compared figure in its unit: seconds per call, or instructions per call for ``instructions``."""
    if metric != "instructions":
        return human_time(value)
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.0f} instr"


def ratio_text(row: dict[str, Any]) -> str:
    """``1.31× (1.26–1.40)``; ``~`` marks a ratio the test did not find significant, as asv does."""
    ratio = row.get("ratio")
    if ratio is None:
        return "–"
    text = f"{ratio:.3f}×"
    interval = row.get("ci")
    if interval and all(isinstance(bound, int | float) for bound in interval[:2]):  # null: NaN in the run
        text += f" ({interval[0]:.2f}–{interval[1]:.2f})"
    p_value = row.get("p_value")
    if p_value is not None and p_value >= 0.01 and row.get("verdict") in ("unchanged", "noisy"):
        text = "~" + text
    return text


def p_text(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def samples_plot(row: dict[str, Any], metric: str | None = "wall") -> dict[str, Any]:
    """Dot strip of base (upper) and head (lower) samples on one shared time axis."""
    base = [v for v in row.get("base_samples") or [] if isinstance(v, int | float)]
    head = [v for v in row.get("head_samples") or [] if isinstance(v, int | float)]
    values = base + head
    if not values:
        return {"width": WIDTH, "height": HEIGHT, "base": [], "head": [], "empty": True}
    low, high = min(values), max(values)
    span = (high - low) or (abs(high) or 1.0)

    def x(value: float) -> float:
        return round(PAD + (value - low) / span * (WIDTH - 2 * PAD), 1)

    return {"width": WIDTH, "height": HEIGHT, "empty": False,
            "base": [x(v) for v in base], "head": [x(v) for v in head],
            "base_y": HEIGHT * 0.3, "head_y": HEIGHT * 0.7,
            "low": human_value(low, metric), "high": human_value(high, metric)}


def trend_plot(row: dict[str, Any]) -> dict[str, Any] | None:
    """History mode: earlier runs' medians, then this run's median (the last point)."""
    trend = [v for v in row.get("trend") or [] if isinstance(v, int | float)]
    current = row.get("head_median")
    if not trend or current is None:
        return None
    values = trend + [current]
    low, high = min(values), max(values)
    span = (high - low) or (abs(high) or 1.0)
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    points = [(round(PAD + i * step, 1), round(HEIGHT - PAD - (v - low) / span * (HEIGHT - 2 * PAD), 1))
              for i, v in enumerate(values)]
    return {"width": WIDTH, "height": HEIGHT, "points": " ".join(f"{px},{py}" for px, py in points),
            "last": points[-1], "runs": len(trend)}


def markdown_lines(performance: dict[str, Any] | None, limit_rows: int = 40) -> list[str]:
    """The summary.md section: regressions first, then the rest, with mode and suite-wide shift."""
    if not performance:
        return []
    rows = performance.get("benchmarks") or []
    counts = performance.get("counts") or {}
    headline = ", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count)
    metric = performance.get("metric") or "wall"
    unit = performance.get("unit") or "seconds per call"
    mode = f"{performance.get('mode')} mode" + (f", {unit}" if metric != "wall" else "")
    parts = [f"### Performance ({mode})", "", headline or "no benchmarks", ""]
    if performance.get("throttled_but_comparable"):
        parts += ["The machine throttled during this run; instruction counts do not depend on the clock, "
                  "so they were compared as usual.", ""]
    shift = performance.get("suite_shift")
    if shift:
        how = "divided out" if performance.get("suite_normalised") else "not divided out: fewer than 10 benchmarks"
        parts += [f"Suite-wide speed shift of this job against the history: {shift:.3f}× ({how}).", ""]
    adaptive = performance.get("adaptive") or {}
    if adaptive.get("benchmarks"):
        parts += [f"Adaptive samples: {len(adaptive['benchmarks'])} benchmark(s) close to the line measured again in "
                  f"{adaptive.get('processes', 0)} extra process(es), {adaptive.get('seconds', 0):.1f} s of the "
                  f"{adaptive.get('budget_seconds', 0):g} s budget; decided at p < {adaptive.get('second_alpha')} "
                  f"(Holm) on the pooled samples, the first look at {adaptive.get('first_alpha')}.", ""]
    baseline = performance.get("baseline") or {}
    if baseline.get("reason"):
        parts += [f"No baseline: {md_inline(str(baseline['reason']), 500)}", ""]
    counted = metric == "instructions"
    if counted:  # both metrics side by side: the gate on instructions, the wall time this run measured
        parts += ["| | Benchmark | Verdict | Base | Head | Ratio | p | Wall (head) |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
    else:
        parts += ["| | Benchmark | Verdict | Base | Head | Ratio (95% CI) | p |", "|---|---|---|---:|---:|---:|---:|"]
    for row in rows[:limit_rows]:
        name = md_cell_code(str(row.get("name", "")), 200)  # a benchmark's name comes from the tests
        verdict = row.get("verdict", "")
        memory = row.get("memory") or {}
        extra = (row.get("adaptive") or {}).get("extra_samples")
        if extra:
            verdict += f" (+{extra} samples)"
        if memory.get("verdict") == "regression":
            verdict += f" (peak memory {memory['head_bytes'] / 2**20:.1f} MiB vs {memory['base_bytes'] / 2**20:.1f})"
        base, head = human_value(row.get("base_median"), metric), human_value(row.get("head_median"), metric)
        if row.get("head_median") is None and memory:
            base, head = f"{memory['base_bytes'] / 2**20:.1f} MiB", f"{memory['head_bytes'] / 2**20:.1f} MiB"
        line = (f"| {ICONS.get(row.get('verdict', ''), '')} | {name} | {md_inline(verdict, 120)} | {base} "
                f"| {head} | {ratio_text(row)} | {p_text(row.get('p_value'))} |")
        parts.append(line + (f" {human_time(row.get('wall_median'))} |" if counted else ""))
    if len(rows) > limit_rows:
        parts.append(f"| | … and {len(rows) - limit_rows} more in report.html | | | | | |")
    return parts + [""]
