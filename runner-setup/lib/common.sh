# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables set here are used by the scripts that source this file
# Shared by every runner-setup script: settings, dry-run, and what kind of Pi this is.
#
# Every path the scripts read or write sits under DOORBELL_RUNNER_ROOT ("" on a real Pi), so the
# tests can run them against a fake Pi root. Settings come from the environment:
#   DOORBELL_RUNNER_ROOT   prefix for /proc, /sys, /etc, /opt, /tmp, /home   (default: none)
#   DOORBELL_RUNNER_ARCH   Debian architecture to assume (default: dpkg --print-architecture)
#   RUNNER_USER            the unprivileged account the runner runs as     (default: github-runner)
#   RUNNER_DIR             where the runner is installed         (default: $ROOT/opt/doorbell-runner)
#   RUNNER_HOOKS_DIR       root-owned copy of the job hooks (default: $ROOT/opt/doorbell-runner-hooks)
#   RUNNER_VERSION         actions/runner release to install                (default: below)
#   RUNNER_DOWNLOAD_BASE   where releases are downloaded from (default: GitHub; file:// works)
#   RUNNER_SHA256          expected SHA-256 of the tarball (default: the release's .sha256 file)

ROOT="${DOORBELL_RUNNER_ROOT:-}"
ROOT="${ROOT%/}"
RUNNER_USER="${RUNNER_USER:-github-runner}"
RUNNER_DIR="${RUNNER_DIR:-${ROOT}/opt/doorbell-runner}"
RUNNER_HOOKS_DIR="${RUNNER_HOOKS_DIR:-${ROOT}/opt/doorbell-runner-hooks}"
RUNNER_WORK_DIR="${RUNNER_WORK_DIR:-${RUNNER_DIR}/_work}"
# v2.336.0: released 2026-07-20, the newest in the actions/runner history this was checked against (2026-12-02).
# GitHub stops queueing jobs to a runner 30 days after a newer release; the runner updates itself, and
# health-check.sh says when the installed one is near or past that deadline. Bump it with each release.
RUNNER_VERSION="${RUNNER_VERSION:-2.336.0}"
RUNNER_DOWNLOAD_BASE="${RUNNER_DOWNLOAD_BASE:-https://github.com/actions/runner/releases/download}"
RUNNER_GROUPS="video,gpio,i2c"
SUDOERS_FILE="${ROOT}/etc/sudoers.d/doorbell-runner"
DRY_RUN=0
SCRIPT_NAME="$(basename "$0")"

die() {
    printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
    exit 1
}

warn() {
    printf '%s: warning: %s\n' "$SCRIPT_NAME" "$*" >&2
}

say() {
    printf '%s\n' "$*"
}

# Run a command, or with --dry-run print it (shell-quoted) instead. Never pass a secret here.
run() {
    if ((DRY_RUN)); then
        printf '+'
        local argument
        for argument in "$@"; do
            if [[ "${argument}" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
                printf ' %s' "${argument}"
            else
                printf ' %q' "${argument}"
            fi
        done
        printf '\n'
    else
        "$@"
    fi
}

# Write stdin to a file with a mode, or with --dry-run show the content that would be written.
write_file() {
    local path="$1" mode="$2" content
    content="$(cat)"
    if ((DRY_RUN)); then
        say "+ write ${path} (mode ${mode}):"
        printf '%s\n' "${content}" | sed 's/^/    | /'
    else
        mkdir -p "$(dirname "${path}")"
        printf '%s\n' "${content}" >"${path}"
        chmod "${mode}" "${path}"
    fi
}

require_root() {
    if ((!DRY_RUN)) && [[ "${EUID}" -ne 0 ]]; then
        die "run this as root (sudo $0 ...), or add --dry-run to see what it would do"
    fi
}

# Refuse the one thing that would leak the registration token: passing it as an argument.
refuse_token_argument() {
    local argument
    for argument in "$@"; do
        case "${argument}" in
            --token | --token=* | -t)
                die "never pass the registration token on the command line (it shows in ps and shell history); set RUNNER_TOKEN or use --token-stdin"
                ;;
            --jitconfig | --jitconfig=*)
                die "never pass a just-in-time runner configuration on the command line (it shows in ps and shell history); pipe it to --jitconfig-stdin"
                ;;
        esac
    done
}

os_release_value() {
    local key="$1" file="${ROOT}/etc/os-release" line
    [[ -r "${file}" ]] || return 0
    while IFS= read -r line; do
        if [[ "${line}" == "${key}="* ]]; then
            line="${line#*=}"
            line="${line#\"}"
            printf '%s\n' "${line%\"}"
            return 0
        fi
    done <"${file}"
}

# Raspberry Pi OS bookworm: ID=debian (64-bit image) or ID=raspbian (32-bit image).
check_os() {
    local id codename
    id="$(os_release_value ID)"
    codename="$(os_release_value VERSION_CODENAME)"
    [[ -n "${id}" ]] || die "cannot read ${ROOT}/etc/os-release; is this Raspberry Pi OS?"
    case "${id}" in
        debian | raspbian) ;;
        *) die "unsupported OS '${id}': these scripts are for Raspberry Pi OS (Debian) bookworm" ;;
    esac
    [[ "${codename}" == "bookworm" ]] ||
        die "unsupported release '${codename:-unknown}': these scripts are written for Raspberry Pi OS bookworm"
    OS_NAME="$(os_release_value PRETTY_NAME)"
}

# GitHub's runner on 32-bit ARM Linux: deprecated by actions/runner PR #4303 (March 2026: a
# deprecation warning on every job and a kill switch that fails the steps), its last Node is 20
# (no Node 24 build for armv7), and the runner's own warning says it is no longer supported after
# September 23rd, 2026 (PR #4685). So armhf is refused unless DOORBELL_RUNNER_ALLOW_ARM32=1.
ARM32_END_OF_SUPPORT="September 23rd, 2026"
ARM32_REASON="GitHub's runner for 32-bit ARM Linux is deprecated (actions/runner PR #4303) and no longer supported after ${ARM32_END_OF_SUPPORT}: its actions are stuck on Node 20 and GitHub can switch it off"

# The userland's architecture, not the kernel's: 32-bit Pi OS boots a 64-bit kernel on a Pi 4/5.
detect_arch() {
    local arch="${DOORBELL_RUNNER_ARCH:-}"
    if [[ -z "${arch}" ]]; then
        arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
    fi
    case "${arch}" in
        arm64 | aarch64) RUNNER_ARCH="arm64" ARCH_LABEL="ARM64" ;;
        armhf | armv7l)
            if [[ "${DOORBELL_RUNNER_ALLOW_ARM32:-}" != 1 ]]; then
                die "32-bit ARM userland '${arch}': ${ARM32_REASON}; install 64-bit Raspberry Pi OS (arm64), or set DOORBELL_RUNNER_ALLOW_ARM32=1 to go on anyway"
            fi
            warn "32-bit ARM userland '${arch}': ${ARM32_REASON}; going on because DOORBELL_RUNNER_ALLOW_ARM32=1"
            RUNNER_ARCH="arm" ARCH_LABEL="ARM"
            ;;
        armel | armv6l) die "unsupported architecture '${arch}': GitHub's runner needs armv7 or arm64 (not a Pi Zero / Pi 1)" ;;
        *) die "unsupported architecture '${arch}': these scripts set up Raspberry Pi runners (arm64 or armhf)" ;;
    esac
    HOST_ARCH="${arch}"
}

detect_pi_model() {
    # /proc/device-tree links to the second on current kernels; read either, as platforms.py does
    local file="${ROOT}/proc/device-tree/model"
    [[ -r "${file}" ]] || file="${ROOT}/sys/firmware/devicetree/base/model"
    [[ -r "${file}" ]] || die "no ${ROOT}/proc/device-tree/model: this is not a Raspberry Pi"
    PI_MODEL_NAME="$(tr -d '\0' <"${file}")"
    if [[ "${PI_MODEL_NAME}" =~ ^Raspberry\ Pi\ Compute\ Module\ ([0-9]+) ]]; then
        PI_MODEL="cm${BASH_REMATCH[1]}"
    elif [[ "${PI_MODEL_NAME}" =~ ^Raspberry\ Pi\ Zero\ 2 ]]; then
        PI_MODEL="pizero2"
    elif [[ "${PI_MODEL_NAME}" =~ ^Raspberry\ Pi\ ([0-9]+) ]]; then
        PI_MODEL="pi${BASH_REMATCH[1]}"
    else
        die "'${PI_MODEL_NAME}' is not a supported Raspberry Pi"
    fi
}

# A video4linux device that is not one of the Pi's own codecs or ISPs (same rule as platforms.py).
detect_camera() {
    local name_file name
    CAMERA=0
    for name_file in "${ROOT}"/sys/class/video4linux/*/name; do
        [[ -r "${name_file}" ]] || continue
        name="$(<"${name_file}")"
        shopt -s nocasematch
        if [[ -n "${name}" && ! "${name}" =~ codec|isp|rpivid|hevc|pispbe|mem2mem ]]; then
            CAMERA=1
        fi
        shopt -u nocasematch
    done
}

# Everything the other functions detect, and the runner labels that follow from it.
detect_all() {
    check_os
    detect_arch
    detect_pi_model
    detect_camera
    RUNNER_LABELS="self-hosted,linux,${ARCH_LABEL},pi,${PI_MODEL}"
    if ((CAMERA)); then
        RUNNER_LABELS="${RUNNER_LABELS},camera"
    fi
}

user_exists() {
    grep -q "^${1}:" "${ROOT}/etc/passwd" 2>/dev/null
}

group_exists() {
    grep -q "^${1}:" "${ROOT}/etc/group" 2>/dev/null
}
