#!/usr/bin/env bash
# shellcheck disable=SC2016  # the single-quoted scripts run in unshare's shell and are expanded there
# An emulated arm64 Debian bookworm root (the base of 64-bit Raspberry Pi OS), for doorbell-ci's own tests.
#
#   scripts/arm64.sh build                 build the root, or reuse the cached one; prints its path
#   scripts/arm64.sh run SUITE JUNIT       run doorbell-ci's SUITE (unit, integration) inside the root
#                                          through doorbell-ci; its JUnit XML is copied to JUNIT
#   scripts/arm64.sh exec CMD [ARG...]     run CMD inside the root, the project mounted at /src
#
# Needs root (or password-less sudo, as on GitHub's hosted runners), binfmt_misc and Debian's
# qemu-user-static and debootstrap (scripts/setup.sh --full installs them). Where one is missing, `run` writes a JUnit file holding one skipped test that
# says why, so the suite shows as skipped with the reason; with DOORBELL_CI_REQUIRE_TOOLS=1 it
# fails instead. `run` does nothing but that skip unless DOORBELL_CI_ARM64=1 (scripts/test.sh
# --full and CI set it): emulation makes the suites several times slower.
#
# The root is cached in $DOORBELL_CI_ARM64_CACHE (default /var/cache/doorbell-ci/arm64-bookworm),
# in a folder named after a hash of its recipe (release, packages, recipe_version): a new recipe
# builds a new root. It is
# built in a temporary folder and renamed into place, so an interrupted build is never reused.
# The Python packages live in a venv inside the root (/opt/venv), reinstalled when pyproject.toml
# changes. Commands run on a throw-away overlay of the root (writes go to a tmpfs), so the cache
# stays as built. Every mount (the overlay, proc, sys, dev, the project, /tmp) is made in a private
# mount namespace (unshare): it disappears with the last process in it, even one killed with
# SIGKILL; the EXIT trap unmounts it earlier on the ordinary paths.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$repo/scripts/arm64.sh"
cache="${DOORBELL_CI_ARM64_CACHE:-/var/cache/doorbell-ci/arm64-bookworm}"
suite_release=bookworm
packages=python3,python3-venv,python3-pip,git,ca-certificates,sudo,procps,passwd,adduser,tar,gzip,curl
build_timeout="${DOORBELL_CI_ARM64_BUILD_TIMEOUT:-1500}"  # debootstrap, then pip: seconds each

say() { echo "arm64.sh: $*" >&2; }

# --- what the machine offers -------------------------------------------------------------------

# Why the root cannot be used here, or nothing when it can.
unavailable_reason() {
  if [ "$(id -u)" -ne 0 ]; then echo "needs root (chroot, mount)"; return; fi
  local tool
  for tool in debootstrap unshare chroot update-binfmts; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed (scripts/setup.sh --full installs it)"; return; }
  done
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
      || { echo "binfmt_misc cannot be mounted here (a container without the privilege?)"; return; }
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 \
      || { echo "update-binfmts cannot enable qemu-aarch64 (is qemu-user-static installed?)"; return; }
  fi
  grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || { echo "the qemu-aarch64 binfmt handler is not enabled"; return; }
  # F (fix binary): the kernel opened the interpreter at registration, so it works inside a chroot
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || { echo "the qemu-aarch64 binfmt handler lacks the F flag, so it cannot run inside a chroot"; return; }
}

# The Debian mirror this machine's apt already uses for $suite_release; empty: debootstrap's default.
apt_mirror() {
  if [ -n "${DOORBELL_CI_ARM64_MIRROR:-}" ]; then echo "$DOORBELL_CI_ARM64_MIRROR"; return; fi
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    # deb822 paragraphs: the first URI of a paragraph whose Suites name the release itself
    awk -v rel="$suite_release" '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == rel) ok = 1 }
      END { if (uri != "" && ok) print uri }' "$file" | head -n 1
  done | head -n 1 | grep . && return
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v rel="$suite_release" '$1 == "deb" { sub(/\[[^]]*\][[:space:]]*/, ""); if ($3 == rel) { print $2; exit } }' || true
}

# Bump recipe_version when build() changes what goes into the root.
recipe_version=1
recipe_key() { printf '%s\n' "$recipe_version" "$suite_release" "$packages" | sha256sum | cut -c1-16; }
venv_key() { sha256sum <"$repo/pyproject.toml" | cut -c1-16; }

# --- building ----------------------------------------------------------------------------------

# Bind the host's DNS, CA bundle and pip configuration over the root's (read-only, per namespace),
# so pip inside reaches the same package index as pip outside, without copying them into the cache.
bind_host_config() {
  local root="$1" path
  for path in /etc/resolv.conf /etc/ssl/certs/ca-certificates.crt /etc/pip.conf /etc/xdg/pip; do
    [ -e "$path" ] || continue
    if [ -d "$path" ]; then mkdir -p "$root$path"; else mkdir -p "$(dirname "$root$path")"; touch "$root$path"; fi
    mount --bind "$path" "$root$path"
    mount -o remount,bind,ro "$root$path" 2>/dev/null || true
  done
}

# A /dev of its own (a tmpfs holding the host's basic nodes): device nodes a test makes there (a
# fake camera or GPIO chip) stay in this namespace instead of appearing in the host's /dev.
private_dev() {
  local root="$1" node
  mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
  for node in null zero full random urandom tty; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
  done
  mkdir -p "$root/dev/pts" "$root/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" 2>/dev/null || true
  ln -sf pts/ptmx "$root/dev/ptmx"
  mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
  ln -sf /proc/self/fd "$root/dev/fd"
  ln -sf /proc/self/fd/0 "$root/dev/stdin"
  ln -sf /proc/self/fd/1 "$root/dev/stdout"
  ln -sf /proc/self/fd/2 "$root/dev/stderr"
}

# argv of `env -i` inside the root: a clean environment plus the host's pip and proxy settings.
inner_env() {
  local name
  printf '%s\n' HOME=/root LANG=C.UTF-8 PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  # tests/nonroot.py's uid-65534 venv: /opt/venv is one already (made from /usr/bin/python3,
  # world-readable, every runtime package), marked ready in each run's overlay below
  printf '%s\n' DOORBELL_CI_NONROOT_VENV=/opt/venv
  # user-mode emulation runs Python several times slower: tests that wait on wall-clock time scale
  # their waits by this (tests/tooling.py time_scale), the mechanism they check stays the same
  printf '%s\n' DOORBELL_CI_TIME_SCALE=4
  for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CERT PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT \
              PIP_DISABLE_PIP_VERSION_CHECK http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [ -n "${!name:-}" ]; then printf '%s=%s\n' "$name" "${!name}"; fi
  done
}

# Build the root under the exclusive lock; reuse it when its recipe key is already there.
build() {
  local reason key final tmp mirror started
  reason="$(unavailable_reason)"
  if [ -n "$reason" ]; then say "cannot build the arm64 root: $reason"; return 3; fi
  key="$(recipe_key)"
  final="$cache/$key"
  # built and current: no lock needed (a root in place is never changed but by ensure_venv, under the lock)
  if [ -f "$final/ready" ] && [ "$(cat "$final/root/opt/venv/.pyproject-key" 2>/dev/null)" = "$(venv_key)" ]; then
    echo "$final/root"
    return 0
  fi
  mkdir -p "$cache"
  exec 8>"$cache/.lock"
  flock -x 8
  if [ ! -f "$final/ready" ]; then
    rm -rf "$final"
    tmp="$(mktemp -d "$cache/.build.XXXXXX")"
    mirror="$(apt_mirror || true)"
    started=$SECONDS
    say "building the arm64 $suite_release root in $tmp (debootstrap, a few minutes)"
    local keyring=()
    if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
      keyring=(--keyring /usr/share/keyrings/debian-archive-keyring.gpg)
    fi
    # debootstrap mounts proc and sys in the target: in a private namespace those mounts cannot outlive it
    if ! unshare --mount --propagation private -- timeout "$build_timeout" \
        debootstrap --arch=arm64 --variant=minbase "${keyring[@]}" --include="$packages" \
        "$suite_release" "$tmp/root" ${mirror:+"$mirror"} >"$tmp/debootstrap.log" 2>&1; then
      say "debootstrap failed; the last lines of $tmp/debootstrap.log:"
      tail -n 15 "$tmp/debootstrap.log" >&2
      return 4
    fi
    rm -rf "$tmp/root/var/cache/apt/archives/"*.deb
    echo "debootstrap_seconds=$((SECONDS - started))" >"$tmp/build-info"
    touch "$tmp/ready"
    mv -T "$tmp" "$final"  # atomic: a reader sees no root or a whole one
    # older recipes' roots are several hundred MB each
    find "$cache" -mindepth 1 -maxdepth 1 -name '.build.*' -prune -o -mindepth 1 -maxdepth 1 -type d \
      ! -name "$key" -print0 | xargs -0 -r rm -rf
  fi
  ensure_venv "$final/root"
  flock -u 8
  exec 8>&-
  echo "$final/root"
}

# The Python packages doorbell-ci and its tests need, in /opt/venv, from a snapshot of pyproject.toml.
ensure_venv() {
  local root="$1" key started
  key="$(venv_key)"
  if [ "$(cat "$root/opt/venv/.pyproject-key" 2>/dev/null)" = "$key" ]; then return 0; fi
  say "installing doorbell-ci's Python packages in the arm64 root (pip, a few minutes)"
  started=$SECONDS
  rm -rf "$root/opt/src-snapshot"
  mkdir -p "$root/opt/src-snapshot"
  cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/doorbell_ci" "$root/opt/src-snapshot/"
  local env_lines
  mapfile -t env_lines < <(inner_env)
  if ! unshare --mount --propagation private -- bash -c '
      set -e
      root="$1"; shift
      source "$0" --functions-only
      mount -t proc proc "$root/proc"
      mount --rbind /dev "$root/dev"
      bind_host_config "$root"
      timeout "'"$build_timeout"'" chroot "$root" /usr/bin/env -i "$@" sh -ec "
        [ -x /opt/venv/bin/python ] || python3 -m venv /opt/venv
        /opt/venv/bin/python -m pip install -q \"/opt/src-snapshot[dev]\"
      "' "$self" "$root" "${env_lines[@]}" >"$root/../pip.log" 2>&1; then
    say "pip install in the arm64 root failed; the last lines of $(dirname "$root")/pip.log:"
    tail -n 15 "$root/../pip.log" >&2
    return 4
  fi
  rm -rf "$root/opt/src-snapshot"
  echo "pip_seconds=$((SECONDS - started))" >>"$root/../build-info"
  echo "$key" >"$root/opt/venv/.pyproject-key"
}

# --- running -----------------------------------------------------------------------------------

# Run argv inside the root with the project at /src, in a private mount namespace, on a throw-away
# overlay: what the command writes (apt installs, users, a venv made by a test) lands in a tmpfs
# and vanishes with the namespace, so the cached root stays as built and runs cannot see each other.
run_inside() {
  local lower="$1"; shift
  local env_lines
  mapfile -t env_lines < <(inner_env)
  mkdir -p "$cache/.mnt/layer" "$cache/.mnt/merged"  # mount points only: every run mounts in its own namespace
  # --pid: its own process table, so `ps -u` inside (runner-setup's hooks kill a user's strays)
  # sees only this run's processes, and every process dies with the namespace's first one
  unshare --mount --propagation private --pid --fork -- bash -c '
    set -eu
    lower="$1"; repo="$2"; mnt="$3"; shift 3
    source "$0" --functions-only
    root="$mnt/merged"
    # on every ordinary exit; SIGKILL is covered by the namespace itself
    trap "umount -R -l \"\$mnt/merged\" \"\$mnt/layer\" 2>/dev/null || true" EXIT
    mount -t tmpfs -o mode=0755 tmpfs "$mnt/layer"
    mkdir "$mnt/layer/upper" "$mnt/layer/work"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$mnt/layer/upper,workdir=$mnt/layer/work" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    private_dev "$root"
    mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
    mkdir -p "$root/src"
    mount --bind "$repo" "$root/src"
    bind_host_config "$root"
    touch "$root/.doorbell-ci-arm64-root"  # in the overlay only: tells tests they run inside the root
    touch "$root/opt/venv/.doorbell-ci-ready"
    n=0; for line in "$@"; do [ "$line" = "--" ] && break; n=$((n + 1)); done
    env_args=("${@:1:$n}"); shift $((n + 1))
    status=0
    chroot "$root" /usr/bin/env -i "${env_args[@]}" PYTHONPATH=/src PYTHONDONTWRITEBYTECODE=1 \
      sh -c "cd /src && exec \"\$@\"" sh "$@" || status=$?
    exit "$status"' "$self" "$lower" "$repo" "$cache/.mnt" "${env_lines[@]}" -- "$@"
}

# A JUnit file with one skipped test saying why the arm64 suite did not run.
write_skip() {
  local junit="$1" suite="$2" message="$3"
  mkdir -p "$(dirname "$junit")"
  message="$(printf '%s' "$message" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g')"
  cat >"$junit" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="arm64-$suite" tests="1" failures="0" errors="0" skipped="1">
<testcase classname="arm64" name="$suite suite in the emulated arm64 root"><skipped message="$message"/></testcase>
</testsuite></testsuites>
EOF
}

# the integration tests CI runs on arm64 (all of them with DOORBELL_CI_ARM64_INTEGRATION=all)
ARM64_INTEGRATION_FILES=(
  tests/integration/test_containment.py
  tests/integration/test_execution.py
  tests/integration/test_platforms.py
  tests/integration/test_coverage_installed.py
  tests/integration/test_local_environment.py
  tests/integration/test_progress_plugin.py
  tests/integration/test_doctor.py
  tests/integration/test_selection_plugin.py
  tests/integration/test_runner_setup_arm64.py
)

run_suite() {
  local suite="$1" junit="$2" reason root status=0 out
  case "$suite" in unit|integration) ;; *) say "unknown suite: $suite"; return 2 ;; esac
  case "$junit" in /*) ;; *) junit="$repo/$junit" ;; esac
  rm -f "$junit"
  if [ "${DOORBELL_CI_ARM64:-}" != "1" ]; then
    write_skip "$junit" "$suite" "the arm64 suites run with scripts/test.sh --full or DOORBELL_CI_ARM64=1"
    say "skipped: set DOORBELL_CI_ARM64=1 (scripts/test.sh --full does) to run the $suite suite on arm64"
    return 0
  fi
  if [ "$suite" = integration ] && [ "${DOORBELL_CI_ARM64_INTEGRATION:-}" = "0" ]; then
    # an opt-out for a machine in a hurry: under emulation the suite takes about as long as all the others
    write_skip "$junit" "$suite" "left out with DOORBELL_CI_ARM64_INTEGRATION=0"
    say "skipped: DOORBELL_CI_ARM64_INTEGRATION=0 leaves the integration suite on arm64 out"
    return 0
  fi
  reason="$(unavailable_reason)"
  if [ -n "$reason" ]; then
    if [ "${DOORBELL_CI_REQUIRE_TOOLS:-}" = "1" ]; then
      say "the arm64 root is unavailable: $reason (DOORBELL_CI_REQUIRE_TOOLS=1)"
      return 3
    fi
    write_skip "$junit" "$suite" "the arm64 root is unavailable here: $reason"
    say "skipped: the arm64 root is unavailable here: $reason"
    return 0
  fi
  root="$(build)" || return $?
  exec 8>"$cache/.lock"
  flock -s 8  # no rebuild while a suite runs in the root
  # the inner run's whole results folder stays in the project (report.json holds the arm64 platform)
  out=".arm64-results/$suite"
  rm -rf "${repo:?}/$out"
  say "running the $suite suite in $root (aarch64 under qemu)"
  # the suite's own timeout (900 s for integration) is for native speed: emulation needs more, and the
  # outer suite's timeout (pyproject.toml) still bounds the whole
  # (arm64-integration: 1800 s); 1680 s inside ends the inner run first, so what finished comes back
  local select=(--suites "$suite") inner="$suite"
  if [ "$suite" = integration ] && [ "${DOORBELL_CI_ARM64_INTEGRATION:-}" != "all" ]; then
    # Time-boxed: under emulation the whole integration suite takes longer than CI's budget (about 40
    # minutes at load 9-13, docs/PLATFORMS.md), so CI runs the files whose behaviour depends on the
    # platform: process containment and start errors, the watchdog, platform detection, coverage of an
    # installed package, the local environment, progress, doctor, and runner-setup for real.
    # DOORBELL_CI_ARM64_INTEGRATION=all runs every integration test.
    select=(--paths "${ARM64_INTEGRATION_FILES[@]}")
    inner=paths
  fi
  run_inside "$root" python -m doorbell_ci run --project /src "${select[@]}" --no-coverage \
    --timeout "${DOORBELL_CI_ARM64_SUITE_TIMEOUT:-1680}" --output-dir "/src/$out" || status=$?
  if [ -f "$repo/$out/junit/$inner.xml" ]; then
    mkdir -p "$(dirname "$junit")"
    cp "$repo/$out/junit/$inner.xml" "$junit"
  elif [ -f "$repo/$out/junit.xml" ]; then
    # the inner pytest was killed (the suite's timeout) before writing its JUnit; the inner doorbell-ci's
    # merged junit.xml holds the tests that finished and the timeout as an error: better than no counts
    mkdir -p "$(dirname "$junit")"
    cp "$repo/$out/junit.xml" "$junit"
    say "the $suite suite did not finish in the arm64 root (exit code $status): its finished tests come from $out/junit.xml"
    [ "$status" -ne 0 ] || status=1
  else
    say "the $suite suite wrote no JUnit XML in the arm64 root (exit code $status); see $out/"
    [ "$status" -ne 0 ] || status=1
  fi
  if [ -n "${SUDO_UID:-}" ]; then  # taken through sudo: give the results back to the user who ran it
    chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$repo/$out" "$junit" 2>/dev/null || true
  fi
  return "$status"
}

# sourced by the namespaced shells below for the functions only
# shellcheck disable=SC2317
if [ "${1:-}" = "--functions-only" ]; then return 0 2>/dev/null || exit 0; fi
# GitHub's hosted runners run jobs as a user with password-less sudo: take root that way.
if [ "$(id -u)" -ne 0 ] && [ "${1:-}" != "-h" ] && [ "${1:-}" != "--help" ] && [ -n "${1:-}" ] \
    && [ "${DOORBELL_CI_ARM64:-}" = "1" ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  exec sudo -n --preserve-env bash "$self" "$@"
fi
case "${1:-}" in
  build) build ;;
  run) [ $# -eq 3 ] || { say "usage: arm64.sh run SUITE JUNIT"; exit 2; }; run_suite "$2" "$3" ;;
  exec) shift; [ $# -ge 1 ] || { say "usage: arm64.sh exec CMD [ARG...]"; exit 2; }
        root="$(build)"; exec 8>"$cache/.lock"; flock -s 8; run_inside "$root" "$@" ;;
  -h|--help|"") sed -n '3,24p' "$self" ;;
  *) say "unknown command: $1"; exit 2 ;;
esac
