#!/usr/bin/env bash
# Set up this machine and run doorbell-ci's own test suites with doorbell-ci itself.
#
#   scripts/test.sh [--full] [ARGS...]
#
# --full (the default when CI=true) also sets up the system tools (scripts/setup.sh --full) and
# runs the unit and integration suites a second time on arm64, in an emulated Debian bookworm root
# (the arm64-unit and arm64-integration suites, scripts/arm64.sh; docs/PLATFORMS.md has the minutes,
# plus about 5 building the root the first time; DOORBELL_CI_ARM64_INTEGRATION=0 leaves the slower
# integration one out). Without --full both arm64 suites report one skipped test each.
# Other arguments go to `doorbell-ci run` (e.g. --suites unit). Reports land in test-results/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
full=0
if [ "${CI:-}" = "true" ]; then full=1; fi
args=()
for arg in "$@"; do
  if [ "$arg" = "--full" ]; then full=1; else args+=("$arg"); fi
done
# shellcheck source=scripts/python-env.sh
. scripts/python-env.sh
doorbell_python "$repo" || exit $?  # an active venv, else .venv/ when the system Python refuses pip
if [ "$full" -eq 1 ]; then
  PYTHON="$python" bash scripts/setup.sh --full
  export DOORBELL_CI_ARM64=1  # scripts/arm64.sh: run the arm64 suites instead of skipping them
else
  PYTHON="$python" bash scripts/setup.sh
fi
if [ "${CI:-}" = "true" ]; then
  export DOORBELL_CI_REQUIRE_TOOLS=1  # in CI a missing tool fails its tests instead of skipping them
fi
export DOORBELL_CI_TOOLS_DIR="$repo/.tools/node_modules/.bin"
exec "$python" -m doorbell_ci run --project . --output-dir test-results ${args[@]+"${args[@]}"}
