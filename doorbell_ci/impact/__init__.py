"""Test impact analysis: record which code each test runs, run only the tests a change can reach.

docs/IMPACT.md says how to use it; ``RunResult.impact`` (report.json "impact") is what the other
stages read.
"""

from doorbell_ci.impact.summary import summary_line

__all__ = ["summary_line"]
