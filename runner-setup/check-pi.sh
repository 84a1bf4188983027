#!/usr/bin/env bash
# Check that this machine can be a doorbell-ci runner, and print the labels it would get.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

usage() {
    cat <<USAGE
Usage: ${SCRIPT_NAME} [--dry-run] [--help]

Checks the OS (Raspberry Pi OS bookworm), the architecture (arm64; 32-bit armhf is refused,
see README.md, unless DOORBELL_RUNNER_ALLOW_ARM32=1),
the Pi model (from the device tree) and whether a camera is attached, then prints the labels
the runner would be registered with. Changes nothing (--dry-run only lists the checks).
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

if ((DRY_RUN)); then
    say "plan: check ${ROOT}/etc/os-release is Raspberry Pi OS bookworm"
    say "plan: check the architecture is arm64 (armhf only with DOORBELL_RUNNER_ALLOW_ARM32=1)"
    say "plan: read the Pi model from ${ROOT}/proc/device-tree/model"
    say "plan: look for a camera in ${ROOT}/sys/class/video4linux"
fi
detect_all
say "os: ${OS_NAME}"
say "arch: ${HOST_ARCH} (runner package linux-${RUNNER_ARCH})"
say "model: ${PI_MODEL_NAME} (${PI_MODEL})"
say "camera: $( ((CAMERA)) && echo yes || echo no)"
say "labels: ${RUNNER_LABELS}"
