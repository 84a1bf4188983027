"""Doorbell Security System, sample edition.

A standard-library stand-in for the Raspberry Pi face-recognition doorbell: same module
boundaries and decision rules, no camera, model or GPIO header needed, so its test suites
run anywhere in seconds.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
