#!/usr/bin/env bash
# Runner hook run after each job: see lib/hooks.sh.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/hooks.sh
source "${SCRIPT_DIR}/../lib/hooks.sh"
hook_main completed "$@"
