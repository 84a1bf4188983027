#!/usr/bin/env bash
# Turn a Raspberry Pi running Raspberry Pi OS bookworm into a doorbell-ci runner, start to end.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

usage() {
    cat <<USAGE
Usage: RUNNER_TOKEN=... ${SCRIPT_NAME} --url https://github.com/OWNER/REPO [--name NAME]
         [--ephemeral] [--with-docker] [--with-valgrind] [--token-stdin] [--dry-run] [--help]

Runs, in order: check-pi.sh, install-packages.sh, create-runner-user.sh, install-runner.sh,
then health-check.sh. The registration token comes from RUNNER_TOKEN or standard input
(--token-stdin), never from the command line. Needs root; --dry-run prints every step.
USAGE
}

refuse_token_argument "$@"
common=() runner=() packages=() TOKEN_STDIN=0
while (($#)); do
    case "$1" in
        --url | --name) runner+=("$1" "${2:-}"); shift ;;
        --ephemeral) runner+=("$1") ;;
        --with-docker | --with-valgrind) packages+=("$1") ;;
        --token-stdin) TOKEN_STDIN=1 ;;
        --dry-run) DRY_RUN=1; common+=("$1") ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
require_root
if ((TOKEN_STDIN)); then
    IFS= read -r RUNNER_TOKEN || true
    export RUNNER_TOKEN # handed to install-runner.sh in its environment, not its arguments
fi
say "== check-pi"
"${SCRIPT_DIR}/check-pi.sh" "${common[@]}"
say "== install-packages"
"${SCRIPT_DIR}/install-packages.sh" "${common[@]}" "${packages[@]}"
say "== create-runner-user"
"${SCRIPT_DIR}/create-runner-user.sh" "${common[@]}"
say "== install-runner"
"${SCRIPT_DIR}/install-runner.sh" "${common[@]}" "${runner[@]}"
say "== health-check"
"${SCRIPT_DIR}/health-check.sh" "${common[@]}"
