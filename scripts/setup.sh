#!/usr/bin/env bash
# Set up a machine to develop and test doorbell-ci.
#
# Python packages go into the active virtual environment, else into python3 when pip may install
# there, else (an "externally managed" system Python, PEP 668) into a virtual environment made
# for the project in .venv/ (see scripts/python-env.sh); demo.sh and test.sh then use the same one.
#
#   scripts/setup.sh           Python packages only (doorbell-ci itself, editable, with dev tools)
#   scripts/setup.sh --full    also the system tools the integration tests use: Docker engine
#                              (started if not running), headless Chromium, shellcheck, valgrind, qemu-user-static,
#                              binfmt-support and debootstrap (the arm64 suites), and the Node tools
#                              (GitHub's OpenAPI description, the Prism mock) in .tools/
#
# --full is the default when CI=true. System packages need root (or sudo); without either the
# script says what is missing and those tests skip (or fail, with DOORBELL_CI_REQUIRE_TOOLS=1).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
full=0
if [ "${CI:-}" = "true" ]; then full=1; fi
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;;
    --python-only) full=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/python-env.sh
. "$repo/scripts/python-env.sh"
doorbell_python "$repo" || exit $?

echo "==> Python packages (into $python)"
"$python" -m pip install --disable-pip-version-check -q -e "${repo}[dev]"

if [ "$full" -eq 0 ]; then
  echo "==> done (Python only; run scripts/setup.sh --full for Docker, Chromium and the Node tools)"
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "setup.sh: need root for: $*" >&2; return 1
  fi
}

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)  # --perf-metric instructions and its tests
# the arm64 suites (scripts/arm64.sh): user-mode emulation and a Debian bookworm root
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
command -v update-binfmts >/dev/null 2>&1 || missing+=(binfmt-support)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)  # Ubuntu hosts
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "==> system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup.sh: install these yourself: ${missing[*]}" >&2
  fi
fi

if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  if [ ! -S /var/run/docker.sock ] || ! docker info >/dev/null 2>&1; then
    echo "==> starting dockerd"
    as_root sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do
      if docker info >/dev/null 2>&1; then break; fi
      sleep 1
    done
    docker info >/dev/null 2>&1 || echo "setup.sh: dockerd did not come up; see /var/log/dockerd.log" >&2
  fi
fi

if command -v npm >/dev/null 2>&1; then
  echo "==> Node tools in .tools/"
  mkdir -p "$repo/.tools"
  cp "$repo/scripts/tools/package.json" "$repo/.tools/package.json"
  (cd "$repo/.tools" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
else
  echo "setup.sh: npm not found; the GitHub API tests (Prism) will skip" >&2
fi
echo "==> done"
