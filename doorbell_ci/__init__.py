"""doorbell-ci: run, measure and report the test suites of a pytest project.

The package is a pipeline (see ``pipeline.py``):
plan -> environment -> run -> collect -> compare -> analyse -> report -> publish.
"""

__version__ = "0.1.0"
