#!/usr/bin/env bash
# Set up doorbell-ci and run it on the bundled sample project (a small Doorbell Security System
# look-alike in tests/sample_project). The sample is copied to a temporary folder first so the
# repository stays clean; the reports go to ./demo-results/.
#   DOORBELL_SAMPLE_FAIL=1 scripts/demo.sh    # the same, with the sample's opt-in failures
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/python-env.sh
. "$repo/scripts/python-env.sh"
doorbell_python "$repo" || exit $?  # an active venv, else .venv/ when the system Python refuses pip
PYTHON="$python" bash "$repo/scripts/setup.sh" --python-only
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$repo/tests/sample_project" "$work/sample"
status=0
"$python" -m doorbell_ci run --project "$work/sample" --output-dir "$repo/demo-results" "$@" || status=$?
echo "HTML report: $repo/demo-results/report.html"
exit "$status"
