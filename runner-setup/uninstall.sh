#!/usr/bin/env bash
# Undo install-runner.sh and create-runner-user.sh: stop the service, unregister, remove files.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

usage() {
    cat <<USAGE
Usage: ${SCRIPT_NAME} [--token-stdin] [--keep-user] [--dry-run] [--help]

Stops and removes the runner's systemd service, unregisters the runner from GitHub (with a
removal token from RUNNER_TOKEN or --token-stdin; without one, remove it by hand under
Settings > Actions > Runners), deletes ${RUNNER_DIR}, ${RUNNER_HOOKS_DIR} and ${SUDOERS_FILE}, and deletes
the user ${RUNNER_USER} and its home unless --keep-user. Needs root. Never pass the token
as an argument. --dry-run prints every step instead of doing it.
USAGE
}

refuse_token_argument "$@"
TOKEN_STDIN=0 KEEP_USER=0
while (($#)); do
    case "$1" in
        --token-stdin) TOKEN_STDIN=1 ;;
        --keep-user) KEEP_USER=1 ;;
        --dry-run) DRY_RUN=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
require_root
TOKEN="${RUNNER_TOKEN:-}"
unset RUNNER_TOKEN
if ((TOKEN_STDIN)); then
    IFS= read -r TOKEN || true
fi

if [[ -x "${RUNNER_DIR}/svc.sh" ]] || ((DRY_RUN)); then
    run cd "${RUNNER_DIR}"
    run ./svc.sh stop || warn "the service was not running"
    run ./svc.sh uninstall || warn "the service was not installed"
fi
if [[ -n "${TOKEN}" ]]; then
    say "+ (cd ${RUNNER_DIR} && ACTIONS_RUNNER_INPUT_TOKEN=<hidden> runuser -u ${RUNNER_USER} -- ./config.sh remove)"
    if ((!DRY_RUN)); then
        (cd "${RUNNER_DIR}" && ACTIONS_RUNNER_INPUT_TOKEN="${TOKEN}" runuser -u "${RUNNER_USER}" -- ./config.sh remove) ||
            warn "could not unregister; remove the runner under Settings > Actions > Runners"
    fi
    TOKEN=""
else
    warn "no removal token: remove the runner by hand under Settings > Actions > Runners"
fi
run cd /
run rm -rf -- "${RUNNER_DIR}" "${RUNNER_HOOKS_DIR}" "${SUDOERS_FILE}"
if ((!KEEP_USER)) && { user_exists "${RUNNER_USER}" || ((DRY_RUN)); }; then
    run userdel --remove "${RUNNER_USER}"
fi
say "uninstalled"
