#!/usr/bin/env bash
# Is this Pi runner fit to take jobs? Prints one line per check; exit 1 when any check FAILs.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

# GitHub stops queueing jobs to a runner that has not taken an update 30 days after its release.
UPDATE_DEADLINE_DAYS=30
UPDATE_WARN_DAYS=7
RUNNER_RELEASES_API="${RUNNER_RELEASES_API:-https://api.github.com/repos/actions/runner/releases?per_page=100}"
MIN_FREE_KB=$((2 * 1024 * 1024))
WARN_FREE_KB=$((5 * 1024 * 1024))
HOT_MILLIDEGREES=80000
FAILED=0

usage() {
    cat <<USAGE
Usage: ${SCRIPT_NAME} [--dry-run] [--help]

Checks: OS and architecture, Pi model, runner installed and registered in ${RUNNER_DIR},
its systemd service active, its version against GitHub's releases (GitHub stops queueing jobs to a
runner ${UPDATE_DEADLINE_DAYS} days after the next release came out: a warning in the last ${UPDATE_WARN_DAYS} days, a FAIL
after), the firmware's throttled / under-voltage flags, CPU temperature
(warning at $((HOT_MILLIDEGREES / 1000)) C), free disk space (fails under 2 GiB), python3 >= 3.11.
Exit 0 when nothing FAILs (warnings allowed), 1 otherwise. Changes nothing; --dry-run only
lists the checks. Good for a cron job or a monitoring agent.
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
    for check in "OS and architecture (${ROOT}/etc/os-release)" "Pi model (${ROOT}/proc/device-tree/model)" \
        "runner installed (${RUNNER_DIR}/config.sh) and registered (${RUNNER_DIR}/.runner)" \
        "service active (systemctl is-active, unit named in ${RUNNER_DIR}/.service)" \
        "runner version against ${RUNNER_RELEASES_API}" \
        "throttled flags (${ROOT}/sys/devices/platform/soc/soc:firmware/get_throttled)" \
        "temperature (${ROOT}/sys/class/thermal/thermal_zone0/temp)" "free disk space in ${RUNNER_DIR}" \
        "python3 >= 3.11"; do
        say "plan: check ${check}"
    done
    exit 0
fi

report() {
    local level="$1" name="$2" detail="$3"
    printf '%-4s %s: %s\n' "${level}" "${name}" "${detail}"
    if [[ "${level}" == FAIL ]]; then
        FAILED=1
    fi
}

if message="$( (detect_all) 2>&1)"; then
    detect_all
    report ok system "${OS_NAME}, ${HOST_ARCH}, ${PI_MODEL_NAME}, labels ${RUNNER_LABELS}"
else
    report FAIL system "${message#*error: }"
fi

if [[ -x "${RUNNER_DIR}/config.sh" && -f "${RUNNER_DIR}/.runner" ]]; then
    report ok runner "installed and registered in ${RUNNER_DIR}"
else
    report FAIL runner "not installed or not registered in ${RUNNER_DIR} (run install-runner.sh)"
fi

if [[ ! -d "${ROOT}/run/systemd/system" ]]; then
    report WARN service "systemd is not running here; service not checked"
elif [[ ! -f "${RUNNER_DIR}/.service" ]]; then
    report FAIL service "not installed as a service (svc.sh install)"
elif systemctl is-active --quiet "$(<"${RUNNER_DIR}/.service")"; then
    report ok service "$(<"${RUNNER_DIR}/.service") is active"
else
    report FAIL service "$(<"${RUNNER_DIR}/.service") is not active (systemctl status for details)"
fi

# The installed version: the runner's own answer (it updates itself), else what install-runner.sh wrote.
installed_version=""
if [[ -x "${RUNNER_DIR}/bin/Runner.Listener" ]]; then
    installed_version="$("${RUNNER_DIR}/bin/Runner.Listener" --version 2>/dev/null || true)"
fi
if [[ -z "${installed_version}" && -r "${RUNNER_DIR}/.doorbell-runner-version" ]]; then
    installed_version="$(<"${RUNNER_DIR}/.doorbell-runner-version")"
fi
installed_version="${installed_version#v}"
if [[ ! "${installed_version}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    report WARN version "installed runner version unknown in ${RUNNER_DIR}"
elif ! releases="$(curl --fail --silent --show-error --location --max-time 15 "${RUNNER_RELEASES_API}" 2>&1)"; then
    report WARN version "${installed_version}; could not read GitHub's releases (${releases:0:120})"
else
    # The clock starts at the first release newer than the installed one, not at the latest.
    verdict="$(printf '%s' "${releases}" | python3 -c '
import datetime, json, sys
installed, deadline, warn = tuple(map(int, sys.argv[1].split("."))), int(sys.argv[2]), int(sys.argv[3])
try:
    releases = json.load(sys.stdin)
    newer = sorted((r["published_at"], r["tag_name"]) for r in releases
                   if not r.get("draft") and not r.get("prerelease")
                   and tuple(map(int, r["tag_name"].lstrip("v").split("."))) > installed)
except (ValueError, KeyError, TypeError, AttributeError):
    print("WARN|unreadable release list"); sys.exit()
if not newer:
    print("ok|the latest release"); sys.exit()
published, tag = newer[0]
age = (datetime.datetime.now(datetime.UTC) - datetime.datetime.fromisoformat(published.replace("Z", "+00:00"))).days
left = deadline - age
if left <= 0:
    print(f"FAIL|{tag} came out {age} days ago: GitHub no longer queues jobs to this runner; update it")
elif left <= warn:
    print(f"WARN|{tag} came out {age} days ago: update within {left} days or GitHub stops queueing jobs to it")
else:
    print(f"ok|{tag} is available; {left} days left to update")
' "${installed_version}" "${UPDATE_DEADLINE_DAYS}" "${UPDATE_WARN_DAYS}" 2>&1)" || verdict="WARN|cannot compare versions"
    report "${verdict%%|*}" version "${installed_version}: ${verdict#*|}"
fi

throttled_file="${ROOT}/sys/devices/platform/soc/soc:firmware/get_throttled"
raw_flags="$(tr -d '[:space:]' <"${throttled_file}" 2>/dev/null || true)"
raw_flags="${raw_flags#0x}"
if [[ ! -r "${throttled_file}" ]]; then
    report WARN throttling "no firmware throttled flags to read"
elif [[ ! "${raw_flags}" =~ ^[0-9a-fA-F]{1,8}$ ]]; then
    report WARN throttling "unreadable flags '${raw_flags:0:20}' in ${throttled_file}"
else
    flags=$((16#${raw_flags}))
    if ((flags & 0x1)); then
        report FAIL power "under-voltage now (flags $(printf '0x%x' "${flags}")): use the official power supply"
    elif ((flags & 0xE)); then
        report WARN throttling "throttled or capped now (flags $(printf '0x%x' "${flags}")): performance results are not comparable"
    elif ((flags & 0xF0000)); then
        report WARN throttling "throttled or under-voltage since boot (flags $(printf '0x%x' "${flags}"))"
    else
        report ok throttling "no throttling or under-voltage since boot"
    fi
fi

temperature_file="${ROOT}/sys/class/thermal/thermal_zone0/temp"
if [[ -r "${temperature_file}" ]]; then
    millidegrees="$(<"${temperature_file}")"
    if ((millidegrees >= HOT_MILLIDEGREES)); then
        report WARN temperature "$((millidegrees / 1000)) C: add cooling before running performance suites"
    else
        report ok temperature "$((millidegrees / 1000)) C"
    fi
fi

disk_folder="${RUNNER_DIR}"
[[ -d "${disk_folder}" ]] || disk_folder="${ROOT:-/}"
free_kb="$(df -Pk "${disk_folder}" | awk 'NR == 2 { print $4 }')"
if ((free_kb < MIN_FREE_KB)); then
    report FAIL disk "$((free_kb / 1024)) MiB free in ${disk_folder}"
elif ((free_kb < WARN_FREE_KB)); then
    report WARN disk "$((free_kb / 1024)) MiB free in ${disk_folder}"
else
    report ok disk "$((free_kb / 1024 / 1024)) GiB free in ${disk_folder}"
fi

if python_version="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2]); assert sys.version_info >= (3, 11)' 2>/dev/null)"; then
    report ok python "python3 ${python_version}"
else
    report FAIL python "python3 >= 3.11 not found (install-packages.sh)"
fi
exit "${FAILED}"
