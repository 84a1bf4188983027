#!/usr/bin/env bash
# Set up this machine and run doorbell-ci's own test suites with doorbell-ci itself.
# Extra arguments go to `doorbell-ci run` (e.g. --suites unit). Reports land in test-results/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/python-env.sh
. scripts/python-env.sh
doorbell_python "$repo" || exit $?  # an active venv, else .venv/ when the system Python refuses pip
PYTHON="$python" bash scripts/setup.sh
if [ "${CI:-}" = "true" ]; then
  export DOORBELL_CI_REQUIRE_TOOLS=1  # in CI a missing tool fails its tests instead of skipping them
fi
export DOORBELL_CI_TOOLS_DIR="$repo/.tools/node_modules/.bin"
exec "$python" -m doorbell_ci run --project . --output-dir test-results "$@"
