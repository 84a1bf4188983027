#!/usr/bin/env bash
# Download GitHub's runner for this Pi's architecture, verify its SHA-256, register it with the
# doorbell-ci labels, install the job hooks and run it as a systemd service under RUNNER_USER.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

usage() {
    cat <<USAGE
Usage: ${SCRIPT_NAME} --url https://github.com/OWNER/REPO [--name NAME] [--ephemeral]
                         [--token-stdin | --jitconfig-stdin] [--download-only DIR] [--dry-run] [--help]

  --url URL            the repository (or organisation) the runner serves
  --name NAME          runner name (default: the host name)
  --ephemeral          take one job, then unregister (re-run with a new token for the next)
  --token-stdin        read the registration token from standard input; otherwise it is taken
                       from the RUNNER_TOKEN environment variable. Never pass it as an argument.
  --jitconfig-stdin    a just-in-time runner: read the encoded_jit_config that GitHub's
                       generate-jitconfig endpoint returned from standard input (or RUNNER_JITCONFIG),
                       install, then run exactly one job in the foreground (run.sh, the config in
                       its environment, never its arguments) and return; no registration token,
                       no config.sh, no service. Loop it (cron, a systemd unit) for the next job.
  --download-only DIR  only download and verify the runner tarball into DIR (no root needed)
  --dry-run            print every step instead of doing it (the checksum is still fetched)

Installs actions/runner ${RUNNER_VERSION} into ${RUNNER_DIR}, owned by ${RUNNER_USER}, with labels
self-hosted,linux,ARM64|ARM,pi,<model>[,camera], the job hooks in ${RUNNER_HOOKS_DIR}
(root-owned, so a job cannot change them), and a systemd service. Needs root.
USAGE
}

refuse_token_argument "$@"
URL="" NAME="" EPHEMERAL=0 TOKEN_STDIN=0 DOWNLOAD_ONLY="" JIT=0
while (($#)); do
    case "$1" in
        --url) URL="${2:-}"; shift ;;
        --name) NAME="${2:-}"; shift ;;
        --ephemeral) EPHEMERAL=1 ;;
        --token-stdin) TOKEN_STDIN=1 ;;
        --jitconfig-stdin) JIT=1 ;;
        --download-only) DOWNLOAD_ONLY="${2:-}"; shift ;;
        --dry-run) DRY_RUN=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

# The tarball's expected SHA-256: RUNNER_SHA256, else the .sha256 file published next to it.
expected_checksum() {
    local url="$1" checksum="${RUNNER_SHA256:-}"
    if [[ -z "${checksum}" ]]; then
        checksum="$(curl --fail --silent --show-error --location "${url}.sha256")" ||
            die "could not fetch ${url}.sha256; set RUNNER_SHA256 to the checksum from the release notes"
        checksum="${checksum%% *}"
    fi
    checksum="${checksum,,}"
    [[ "${checksum}" =~ ^[0-9a-f]{64}$ ]] || die "'${checksum}' is not a SHA-256 checksum (64 hex digits)"
    printf '%s\n' "${checksum}"
}

# Download into a folder and verify; a mismatch removes the file and stops everything.
download_verified() {
    local url="$1" folder="$2" checksum="$3" file actual
    file="${folder}/$(basename "${url}")"
    mkdir -p "${folder}"
    curl --fail --silent --show-error --location --output "${file}" "${url}" || die "could not download ${url}"
    actual="$(sha256sum "${file}")"
    actual="${actual%% *}"
    if [[ "${actual}" != "${checksum}" ]]; then
        rm -f -- "${file}"
        die "checksum mismatch for $(basename "${url}"): expected ${checksum}, got ${actual}; not installing it"
    fi
    say "verified ${file} (sha256 ${checksum})"
}

detect_arch
TARBALL="actions-runner-linux-${RUNNER_ARCH}-${RUNNER_VERSION}.tar.gz"
TARBALL_URL="${RUNNER_DOWNLOAD_BASE%/}/v${RUNNER_VERSION}/${TARBALL}"
if [[ -n "${DOWNLOAD_ONLY}" ]]; then
    download_verified "${TARBALL_URL}" "${DOWNLOAD_ONLY}" "$(expected_checksum "${TARBALL_URL}")"
    exit 0
fi

detect_all
[[ "${URL}" =~ ^https://[A-Za-z0-9.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?/?$ ]] ||
    die "--url must be https://github.com/OWNER/REPO (or an organisation URL), got '${URL}'"
NAME="${NAME:-$(hostname)}"
[[ "${NAME}" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
    die "--name '${NAME}' must start with a letter or digit, then letters, digits, '.', '_' or '-'"
require_root

((!(JIT && (TOKEN_STDIN || EPHEMERAL)))) ||
    die "--jitconfig-stdin takes neither a registration token nor --ephemeral: a just-in-time runner is single-use already"
TOKEN="${RUNNER_TOKEN:-}" JITCONFIG="${RUNNER_JITCONFIG:-}"
unset RUNNER_TOKEN RUNNER_JITCONFIG
if ((TOKEN_STDIN)); then
    IFS= read -r TOKEN || true
fi
if ((JIT)); then
    TOKEN=""
    if [[ -z "${JITCONFIG}" ]]; then
        IFS= read -r JITCONFIG || true
    fi
    # base64 of a JSON document: anything else is not what generate-jitconfig returns (never echoed)
    [[ -n "${JITCONFIG}" || "${DRY_RUN}" -eq 1 ]] ||
        die "no just-in-time configuration on standard input (the encoded_jit_config of POST .../actions/runners/generate-jitconfig)"
    [[ -z "${JITCONFIG}" || "${JITCONFIG}" =~ ^[A-Za-z0-9+/]+={0,2}$ ]] ||
        die "standard input is not an encoded_jit_config (base64 from generate-jitconfig); not shown here"
elif [[ -z "${TOKEN}" ]]; then
    if ((DRY_RUN)); then
        warn "no registration token given; the real run needs RUNNER_TOKEN or --token-stdin"
    else
        die "no registration token: set RUNNER_TOKEN or pipe it to --token-stdin (Settings > Actions > Runners > New runner)"
    fi
fi
user_exists "${RUNNER_USER}" || ((DRY_RUN)) || die "user ${RUNNER_USER} does not exist; run create-runner-user.sh first"

CHECKSUM="$(expected_checksum "${TARBALL_URL}")"
say "runner: ${TARBALL} for ${PI_MODEL_NAME}, labels ${RUNNER_LABELS}"
say "download: ${TARBALL_URL} (expected sha256 ${CHECKSUM})"
if ((DRY_RUN)); then
    say "+ download ${TARBALL_URL} and verify sha256 ${CHECKSUM}"
    DOWNLOAD_DIR="${TMPDIR:-/tmp}/doorbell-runner-download"
else
    DOWNLOAD_DIR="$(mktemp -d)"
    trap 'rm -rf -- "${DOWNLOAD_DIR}"' EXIT
    download_verified "${TARBALL_URL}" "${DOWNLOAD_DIR}" "${CHECKSUM}"
fi
run mkdir -p "${RUNNER_DIR}"
run tar -xzf "${DOWNLOAD_DIR}/${TARBALL}" -C "${RUNNER_DIR}"
run chown -R "${RUNNER_USER}:${RUNNER_USER}" "${RUNNER_DIR}"

# The hooks are copied to a root-owned folder: a job runs as RUNNER_USER and must not be able
# to rewrite what runs before the next job.
run mkdir -p "${RUNNER_HOOKS_DIR}/hooks" "${RUNNER_HOOKS_DIR}/lib"
run install -o root -g root -m 0755 "${SCRIPT_DIR}/hooks/job-started.sh" "${SCRIPT_DIR}/hooks/job-completed.sh" \
    "${RUNNER_HOOKS_DIR}/hooks/"
run install -o root -g root -m 0644 "${SCRIPT_DIR}/lib/common.sh" "${SCRIPT_DIR}/lib/hooks.sh" "${RUNNER_HOOKS_DIR}/lib/"
run install -o root -g root -m 0755 "${SCRIPT_DIR}/hooks/reclaim-workspace.py" "${RUNNER_HOOKS_DIR}/hooks/"
run install -o root -g root -m 0755 "${SCRIPT_DIR}/health-check.sh" "${RUNNER_HOOKS_DIR}/"
# What reclaim-workspace.py acts on: root-owned, so a job cannot point it elsewhere.
write_file "${RUNNER_HOOKS_DIR}/settings" 0644 <<SETTINGS
RUNNER_USER=${RUNNER_USER}
RUNNER_WORK_DIR=${RUNNER_WORK_DIR}
SETTINGS
# The runner user's only sudo right: that helper, with no arguments ("").
write_file "${SUDOERS_FILE}" 0440 <<SUDOERS
${RUNNER_USER} ALL=(root) NOPASSWD: ${RUNNER_HOOKS_DIR}/hooks/reclaim-workspace.py ""
SUDOERS
if ((!DRY_RUN)) && command -v visudo >/dev/null 2>&1 && ! visudo -cqf "${SUDOERS_FILE}"; then
    rm -f -- "${SUDOERS_FILE}"
    die "visudo rejected ${SUDOERS_FILE}; removed it"
fi
# health-check.sh compares it with GitHub's releases (bin/Runner.Listener --version wins once present).
printf '%s\n' "${RUNNER_VERSION}" | write_file "${RUNNER_DIR}/.doorbell-runner-version" 0644
# The runner reads .env into every job's (and hook's) environment. RUNNER_LABELS is what
# doorbell-ci records as platform.runner_label.
write_file "${RUNNER_DIR}/.env" 0644 <<ENV
LANG=C.UTF-8
ACTIONS_RUNNER_HOOK_JOB_STARTED=${RUNNER_HOOKS_DIR}/hooks/job-started.sh
ACTIONS_RUNNER_HOOK_JOB_COMPLETED=${RUNNER_HOOKS_DIR}/hooks/job-completed.sh
RUNNER_DIR=${RUNNER_DIR}
RUNNER_WORK_DIR=${RUNNER_WORK_DIR}
RUNNER_LABELS=${RUNNER_LABELS}
ENV

if ((JIT)); then
    # The runner reads any ACTIONS_RUNNER_INPUT_<ARG> variable as that argument: the config stays
    # out of ps and /proc/PID/cmdline, which every user on the machine can read.
    say "+ (cd ${RUNNER_DIR} && ACTIONS_RUNNER_INPUT_JITCONFIG=<hidden> runuser -u ${RUNNER_USER} -- ./run.sh)"
    status=0
    if ((!DRY_RUN)); then
        (cd "${RUNNER_DIR}" && ACTIONS_RUNNER_INPUT_JITCONFIG="${JITCONFIG}" runuser -u "${RUNNER_USER}" -- ./run.sh) ||
            status=$?
    fi
    JITCONFIG=""
    say "runner ${NAME}: just-in-time job finished (exit code ${status}); the runner is gone from GitHub"
    exit "${status}"
fi

config_args=(--unattended --replace --url "${URL}" --name "${NAME}" --labels "${RUNNER_LABELS}" --work _work)
if ((EPHEMERAL)); then
    config_args+=(--ephemeral)
fi
# config.sh reads ACTIONS_RUNNER_INPUT_TOKEN from its environment, so the token is never an argument.
say "+ (cd ${RUNNER_DIR} && ACTIONS_RUNNER_INPUT_TOKEN=<hidden> runuser -u ${RUNNER_USER} -- ./config.sh ${config_args[*]})"
if ((!DRY_RUN)); then
    (cd "${RUNNER_DIR}" && ACTIONS_RUNNER_INPUT_TOKEN="${TOKEN}" runuser -u "${RUNNER_USER}" -- ./config.sh "${config_args[@]}")
fi
TOKEN=""
run cd "${RUNNER_DIR}"
run ./svc.sh install "${RUNNER_USER}"
run ./svc.sh start
say "runner ${NAME}: installed$( ((EPHEMERAL)) && echo ' (ephemeral: one job)'), labels ${RUNNER_LABELS}"
