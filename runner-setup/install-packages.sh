#!/usr/bin/env bash
# Install what the Doorbell Security System's tests need on a Pi: Python 3.11 with venv, git,
# build tools, the camera (libcamera / picamera2) and GPIO / I2C libraries, optionally Docker.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

# Raspberry Pi OS bookworm package names (python3 is 3.11 there).
BASE_PACKAGES=(python3 python3-venv python3-dev python3-pip git build-essential pkg-config
    libffi-dev libssl-dev curl ca-certificates tar sudo)
CAMERA_PACKAGES=(python3-picamera2 python3-libcamera libcamera-dev rpicam-apps)
GPIO_PACKAGES=(gpiod libgpiod-dev python3-lgpio python3-gpiozero i2c-tools)
DOCKER_PACKAGES=(docker.io)
VALGRIND_PACKAGES=(valgrind)
WITH_DOCKER=0
WITH_VALGRIND=0

usage() {
    cat <<USAGE
Usage: ${SCRIPT_NAME} [--with-docker] [--with-valgrind] [--dry-run] [--help]

Installs with apt-get: ${BASE_PACKAGES[*]}
  camera: ${CAMERA_PACKAGES[*]}
  GPIO/I2C: ${GPIO_PACKAGES[*]}
  --with-docker: ${DOCKER_PACKAGES[*]} (the runner user is NOT added to the docker group,
                 which would make it root-equivalent; see README.md)
  --with-valgrind: ${VALGRIND_PACKAGES[*]} (for --perf-metric instructions: counts that a
                 throttling Pi does not change)
Needs root. --dry-run prints the commands instead of running them.
USAGE
}

while (($#)); do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --with-docker) WITH_DOCKER=1 ;;
        --with-valgrind) WITH_VALGRIND=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

check_os
detect_arch
require_root
packages=("${BASE_PACKAGES[@]}" "${CAMERA_PACKAGES[@]}" "${GPIO_PACKAGES[@]}")
if ((WITH_DOCKER)); then
    packages+=("${DOCKER_PACKAGES[@]}")
fi
if ((WITH_VALGRIND)); then
    packages+=("${VALGRIND_PACKAGES[@]}")
fi
say "installing ${#packages[@]} packages on ${OS_NAME} (${HOST_ARCH})"
export DEBIAN_FRONTEND=noninteractive
run apt-get update
run apt-get install -y --no-install-recommends "${packages[@]}"
if ((!DRY_RUN)); then
    python3 -c 'import sys, venv; assert sys.version_info >= (3, 11), sys.version' ||
        die "python3 is older than 3.11 or has no venv module after the install"
fi
say "packages: done"
