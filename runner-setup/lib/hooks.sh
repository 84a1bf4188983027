# shellcheck shell=bash
# The job hooks' work: leave nothing of one job behind for the next (files or processes).
# Sourced by hooks/job-started.sh and hooks/job-completed.sh after lib/common.sh.
# An entry that cannot be removed does not stop the rest of the clean-up; the hook exits 1 at the end.
CLEAN_FAILED=0

# Remove what is inside a folder, only if it is inside the runner's work folder.
clear_folder() {
    local folder="$1" real work entry
    [[ -n "${folder}" && -d "${folder}" ]] || return 0
    real="$(realpath -m -- "${folder}")"
    work="$(realpath -m -- "${RUNNER_WORK_DIR}")"
    if [[ "${real}" != "${work}"/* ]]; then
        warn "not clearing ${folder}: it is not inside the runner's work folder ${work}"
        return 0
    fi
    while IFS= read -r -d '' entry; do
        run rm -rf -- "${entry}" || CLEAN_FAILED=1
    done < <(find "${real}" -mindepth 1 -maxdepth 1 -print0 | sort -z)
}

# Files a job's tests left in /tmp (pytest-of-USER, sockets, camera captures): the user's own only.
clear_user_temp() {
    local temp="${ROOT}/tmp" entry
    [[ -d "${temp}" ]] || return 0
    while IFS= read -r -d '' entry; do
        run rm -rf -- "${entry}" || CLEAN_FAILED=1
    done < <(find "${temp}" -mindepth 1 -maxdepth 1 -user "$(id -u)" -print0 | sort -z)
}

# Every process of this user except this hook, its ancestors (the runner) and the user's systemd.
kill_stray_processes() {
    local -a ancestors=() lines=() strays=()
    local pid="$$" ppid line comm uid
    while [[ -n "${pid}" && "${pid}" -gt 1 ]]; do
        ancestors+=("${pid}")
        pid="$(ps -o ppid= -p "${pid}" | tr -d ' ')"
    done
    uid="$(id -u)"
    mapfile -t lines < <(ps -u "${uid}" -o pid=,ppid=,comm=)
    for line in "${lines[@]}"; do
        read -r pid ppid comm <<<"${line}"
        ((pid > 2 && ppid != 2)) || continue # init and kernel threads
        [[ " ${ancestors[*]} " == *" ${pid} "* ]] && continue
        [[ "${comm}" == systemd || "${comm}" == "(sd-pam)" ]] && continue
        kill -0 "${pid}" 2>/dev/null || continue # gone already (e.g. the ps above)
        strays+=("${pid}")
        say "stray process: ${pid} ${comm}"
    done
    ((${#strays[@]})) || return 0
    if ((!DRY_RUN)) && [[ "${uid}" -eq 0 ]]; then
        warn "running as root: not killing every root process; the hooks must run as the runner user"
        return 0
    fi
    run kill -TERM "${strays[@]}" || true
    if ((!DRY_RUN)); then
        sleep 2
    fi
    local -a survivors=()
    for pid in "${strays[@]}"; do
        if ((DRY_RUN)) || kill -0 "${pid}" 2>/dev/null; then
            survivors+=("${pid}")
        fi
    done
    if ((${#survivors[@]})); then
        run kill -KILL "${survivors[@]}" 2>/dev/null || true
    fi
}

hook_main() {
    local phase="$1"
    shift
    while (($#)); do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            -h | --help)
                cat <<USAGE
Usage: ${SCRIPT_NAME} [--dry-run] [--help]

The runner's job-${phase} hook (ACTIONS_RUNNER_HOOK_JOB_${phase^^}): clears the job's
workspace (\$GITHUB_WORKSPACE) and temp folder (\$RUNNER_TEMP) when they are inside
${RUNNER_WORK_DIR}, removes this user's files in ${ROOT}/tmp, and kills every process of
this user that is not the runner itself (stray servers, camera streams, xdist workers left
by tests). --dry-run lists what it would remove and kill.
USAGE
                exit 0
                ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
        shift
    done
    say "doorbell-ci runner hook: job ${phase}"
    kill_stray_processes # first: nothing of the job may write while its files are removed
    reclaim_root_owned
    clear_folder "${GITHUB_WORKSPACE:-}"
    clear_folder "${RUNNER_TEMP:-}"
    clear_user_temp
    if ((CLEAN_FAILED)); then
        warn "some files of the last job could not be removed (above); the next job may find them"
        return 1
    fi
}

# Files a container job left owned by root cannot be removed by the runner user (actions/runner#434):
# the root-owned helper next to this hook gives them back, through its one sudoers rule.
reclaim_root_owned() {
    local helper="${SCRIPT_DIR}/reclaim-workspace.py"
    [[ -x "${helper}" ]] || return 0
    if [[ "$(id -u)" -eq 0 ]] && ((!DRY_RUN)); then
        "${helper}" || warn "could not give root-owned files in the work folder back"
    else
        run sudo -n "${helper}" || warn "could not give root-owned files in the work folder back (is /etc/sudoers.d/doorbell-runner installed?)"
    fi
}
