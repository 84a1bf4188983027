#!/usr/bin/env bash
# Create the unprivileged account the runner runs as: in video, gpio and i2c, and nothing more.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

usage() {
    cat <<USAGE
Usage: ${SCRIPT_NAME} [--dry-run] [--help]

Creates the system user \$RUNNER_USER (now: ${RUNNER_USER}) with a home folder, no password,
no login shell, and exactly the supplementary groups ${RUNNER_GROUPS} (camera, GPIO, I2C).
If the user exists, its supplementary groups are reset to exactly those: no sudo, no docker,
no adm. Needs root. --dry-run prints the commands instead of running them.
USAGE
}

while (($#)); do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

[[ "${RUNNER_USER}" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "RUNNER_USER '${RUNNER_USER}' is not a valid user name"
[[ "${RUNNER_USER}" != root ]] || die "the runner must not run as root"
check_os
require_root
IFS=',' read -r -a groups <<<"${RUNNER_GROUPS}"
for group in "${groups[@]}"; do
    if ! group_exists "${group}"; then
        run groupadd --system "${group}"
    fi
done
if user_exists "${RUNNER_USER}"; then
    say "user ${RUNNER_USER} exists: setting its supplementary groups to exactly ${RUNNER_GROUPS}"
    run usermod --groups "${RUNNER_GROUPS}" --shell /usr/sbin/nologin "${RUNNER_USER}"
else
    run useradd --system --create-home --home-dir "/home/${RUNNER_USER}" --shell /usr/sbin/nologin \
        --user-group --groups "${RUNNER_GROUPS}" "${RUNNER_USER}"
fi
run passwd --lock "${RUNNER_USER}"
say "user: ${RUNNER_USER} in ${RUNNER_GROUPS}"
