# shellcheck shell=bash disable=SC2034  # $python is this file's result, read by the scripts that source it
# Sourced by setup.sh, demo.sh and test.sh: choose the Python that doorbell-ci is installed into
# and run with, and set $python to it.
#
#   1. an active virtual environment ($VIRTUAL_ENV): its python;
#   2. else the project's own .venv/ if an earlier run made one: its python;
#   3. else $PYTHON (default python3) if pip may install into it (a pyenv, conda or python.org
#      Python; what CI uses, so CI pays for no new environment);
#   4. else, when that Python is "externally managed" (PEP 668: Debian 12 / Raspberry Pi OS,
#      Ubuntu 24.04, Fedora's system Python refuse `pip install` with
#      "externally-managed-environment"), a virtual environment made for the project in .venv/
#      (gitignored), with the system's site-packages visible, so apt-installed packages such as
#      picamera2 still import.
# DOORBELL_CI_VENV=/path overrides where step 4 puts the environment.

doorbell_python() {
  local repo="$1"
  local base="${PYTHON:-python3}"
  local venv="${DOORBELL_CI_VENV:-$repo/.venv}"
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    python="$VIRTUAL_ENV/bin/python"
    return 0
  fi
  if [ -x "$venv/bin/python" ]; then
    python="$venv/bin/python"
    return 0
  fi
  if ! command -v "$base" >/dev/null 2>&1; then
    echo "doorbell-ci: $base not found; install Python 3.11+ (or set PYTHON=/path/to/python3)" >&2
    return 2
  fi
  if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "doorbell-ci: needs Python 3.11 or newer ($base is $("$base" --version 2>&1))" >&2
    return 2
  fi
  # PEP 668: the marker file sits in the standard library's folder; a venv's python is never managed
  if ! "$base" -c 'import os, sys, sysconfig
managed = os.path.isfile(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and sys.prefix == sys.base_prefix else 1)'; then
    python="$base"
    return 0
  fi
  echo "==> $base is externally managed (PEP 668): using a virtual environment for the project in $venv"
  if ! "$base" -m venv --system-site-packages "$venv"; then
    rm -rf "$venv"
    echo "doorbell-ci: could not create $venv; install the venv module (Debian/Ubuntu: sudo apt install python3-venv) or activate a virtual environment first" >&2
    return 2
  fi
  python="$venv/bin/python"
}
