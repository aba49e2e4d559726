#!/usr/bin/env bash
# Install, configure and start one casebridge node on a Linux host. Safe to run again with the same
# arguments: whatever is already in place is kept and reported as skipped. See --help.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=casebridge-deploy

usage() {
    cat <<'EOF'
Usage: casebridge-deploy.sh --prefix DIR --agency CODE --federation NAME --listen HOST:PORT [options]
       casebridge-deploy.sh --prefix DIR --stop

Installs casebridge into its own virtual environment under --prefix, creates the node home
('casebridge init'), writes this node's identity bundle for the peers, pins the peers' bundles,
starts the node (systemd unit, or a background process with --no-systemd) and waits until its gRPC
health service reports SERVING. Running it again with the same arguments changes nothing: an existing
virtual environment and home are reused (the home must belong to the same agency), peers already pinned
with the same certificate are skipped and a running node is left running.

Node:
  --prefix DIR             install root: DIR/venv, DIR/home, DIR/<CODE>.bundle, DIR/run, DIR/log
  --agency CODE            this agency's code, e.g. NL-NP
  --federation NAME        the federation's name, the same at every member
  --listen HOST:PORT       address the node serves on, e.g. 0.0.0.0:7443
  --federation-secret FILE the federation secret from the first member (every member but the first)
  --home DIR               node home (default: PREFIX/home)
  --san NAME               another DNS name or IP peers use to reach this node (repeatable; init only)
  --advertise HOST:PORT    address written into our bundle for peers to dial (default: --listen)
  --bundle-out FILE        where to write our identity bundle (default: PREFIX/<CODE>.bundle)
  --peer-bundle FILE       a peer's identity bundle to pin (repeatable)
  --types T,..             key types shared with the peers pinned by this run (default: the [policy]
                           of the config, every key type); agree on the same list with each peer
  --max-set-size N         most keys per session from those peers
  --daily-quota N          most keys per day from those peers

Install:
  --source PATH            source tree or wheel to install (default: the repository holding this script)
  --python PY              interpreter for the virtual environment (default: python3, 3.11 or later)
  --wheelhouse DIR         install offline from the wheels in DIR (pip --no-index --find-links DIR)
  --deps-from VENV         take the dependencies from an existing virtual environment instead of
                           installing them: the new environment sees VENV's site-packages and only
                           casebridge itself is installed (--no-deps --no-build-isolation). For tests
                           and hosts without an index; a source tree then needs a build backend
                           (setuptools>=77) in VENV, a wheel does not. Implies --python VENV/bin/python.
  --upgrade                reinstall casebridge into an existing virtual environment and
                           restart a running node so that it runs the new code

Service:
  --no-systemd             no unit: run 'serve' in the background (pid PREFIX/run/casebridge.pid,
                           log PREFIX/log/casebridge.log)
  --user NAME              system user the unit runs as, created if missing (default: casebridge)
  --unit NAME              systemd unit name (default: casebridge-<code in lower case>)
  --wait SECONDS           how long to wait for SERVING (default: 30)
  --stop                   stop the --no-systemd node of --prefix and exit
  -h, --help               this help

Examples:
  # first member of the federation
  sudo deploy/casebridge-deploy.sh --prefix /opt/casebridge --agency NL-NP --federation eu-tht \
      --listen 0.0.0.0:7443 --san casebridge.politie.example
  # another member, with the secret and the first member's bundle
  sudo deploy/casebridge-deploy.sh --prefix /opt/casebridge --agency DE-BKA --federation eu-tht \
      --listen 0.0.0.0:7443 --federation-secret ./federation.secret --peer-bundle ./NL-NP.bundle
  # without systemd, as an ordinary user
  deploy/casebridge-deploy.sh --prefix ~/casebridge --agency NL-NP --federation eu-tht \
      --listen 127.0.0.1:7443 --no-systemd
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*"; }
skip() { printf '%s: skip: %s\n' "$PROG" "$*"; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

PREFIX="" AGENCY="" FEDERATION="" LISTEN="" SECRET="" HOME_DIR="" ADVERTISE="" BUNDLE_OUT=""
SOURCE="" PYTHON="" WHEELHOUSE="" DEPS_FROM="" UPGRADE=0 SYSTEMD=1 SERVICE_USER=casebridge UNIT=""
WAIT=30 STOP=0
# Set when this run (re)installed casebridge: a node already running still runs the old code.
INSTALLED=0
SANS=() PEER_BUNDLES=() POLICY_ARGS=()

need_value() {
    [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
        --agency) need_value "$@"; AGENCY=$2; shift 2 ;;
        --federation) need_value "$@"; FEDERATION=$2; shift 2 ;;
        --listen) need_value "$@"; LISTEN=$2; shift 2 ;;
        --federation-secret) need_value "$@"; SECRET=$2; shift 2 ;;
        --home) need_value "$@"; HOME_DIR=$2; shift 2 ;;
        --san) need_value "$@"; SANS+=("$2"); shift 2 ;;
        --advertise) need_value "$@"; ADVERTISE=$2; shift 2 ;;
        --bundle-out) need_value "$@"; BUNDLE_OUT=$2; shift 2 ;;
        --peer-bundle) need_value "$@"; PEER_BUNDLES+=("$2"); shift 2 ;;
        --types) need_value "$@"; POLICY_ARGS+=(--types "$2"); shift 2 ;;
        --max-set-size) need_value "$@"; POLICY_ARGS+=(--max-set-size "$2"); shift 2 ;;
        --daily-quota) need_value "$@"; POLICY_ARGS+=(--daily-quota "$2"); shift 2 ;;
        --source) need_value "$@"; SOURCE=$2; shift 2 ;;
        --python) need_value "$@"; PYTHON=$2; shift 2 ;;
        --wheelhouse) need_value "$@"; WHEELHOUSE=$2; shift 2 ;;
        --deps-from) need_value "$@"; DEPS_FROM=$2; shift 2 ;;
        --upgrade) UPGRADE=1; shift ;;
        --no-systemd) SYSTEMD=0; shift ;;
        --user) need_value "$@"; SERVICE_USER=$2; shift 2 ;;
        --unit) need_value "$@"; UNIT=$2; shift 2 ;;
        --wait) need_value "$@"; WAIT=$2; shift 2 ;;
        --stop) STOP=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

absolute() { realpath -m -- "$1"; }

[[ -n $PREFIX ]] || die "--prefix is required (see --help)"
PREFIX=$(absolute "$PREFIX")
VENV=$PREFIX/venv
RUN_DIR=$PREFIX/run
LOG_DIR=$PREFIX/log
PID_FILE=$RUN_DIR/casebridge.pid
LOG_FILE=$LOG_DIR/casebridge.log

# The pid in the pid file, if that process is alive and is a casebridge serve (pids get reused).
running_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'casebridge.* serve' || return 1
    printf '%s\n' "$pid"
}

stop_node() {
    local pid
    if ! pid=$(running_pid); then
        rm -f -- "$PID_FILE"
        say "no node of $PREFIX is running"
        return 0
    fi
    say "stopping the node (pid $pid)"
    kill -TERM "$pid"
    # serve lets running sessions finish for up to 10 s before it exits.
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "pid $pid did not stop within 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f -- "$PID_FILE"
    say "stopped"
}

if [[ $STOP -eq 1 ]]; then
    stop_node
    exit 0
fi

[[ -n $AGENCY && -n $FEDERATION && -n $LISTEN ]] ||
    die "--agency, --federation and --listen are required (see --help)"
[[ $WAIT =~ ^[0-9]+$ ]] || die "--wait: expected whole seconds, got $WAIT"
HOME_DIR=$(absolute "${HOME_DIR:-$PREFIX/home}")
BUNDLE_OUT=$(absolute "${BUNDLE_OUT:-$PREFIX/$AGENCY.bundle}")
SOURCE=$(absolute "${SOURCE:-$SCRIPT_DIR/..}")
[[ -e $SOURCE ]] || die "--source: $SOURCE does not exist"
[[ -z $SECRET ]] || SECRET=$(absolute "$SECRET")
[[ -z $WHEELHOUSE ]] || WHEELHOUSE=$(absolute "$WHEELHOUSE")
for i in "${!PEER_BUNDLES[@]}"; do
    PEER_BUNDLES[i]=$(absolute "${PEER_BUNDLES[i]}")
    [[ -f ${PEER_BUNDLES[i]} ]] || die "--peer-bundle: ${PEER_BUNDLES[i]} is not a file"
done
if [[ -n $DEPS_FROM ]]; then
    DEPS_FROM=$(absolute "$DEPS_FROM")
    [[ -x $DEPS_FROM/bin/python ]] || die "--deps-from: $DEPS_FROM is not a virtual environment"
    PYTHON=${PYTHON:-$DEPS_FROM/bin/python}
fi
PYTHON=${PYTHON:-python3}
if [[ $SYSTEMD -eq 1 ]]; then
    [[ $(id -u) -eq 0 ]] || die "installing a systemd unit needs root: run with sudo, or pass --no-systemd"
    command -v systemctl >/dev/null || die "systemctl not found: pass --no-systemd"
    UNIT=${UNIT:-casebridge-$(tr '[:upper:]' '[:lower:]' <<<"$AGENCY")}
    # systemd splits unit settings at whitespace.
    [[ $VENV$HOME_DIR != *[[:space:]]* ]] || die "--prefix and --home must not contain spaces for systemd"
fi

cb() { "$VENV/bin/casebridge" --home "$HOME_DIR" "$@"; }

install_casebridge() {
    if [[ -x $VENV/bin/casebridge && $UPGRADE -eq 0 ]]; then
        skip "virtual environment $VENV already holds $("$VENV/bin/casebridge" --version) (--upgrade reinstalls)"
        return
    fi
    if [[ ! -x $VENV/bin/python ]]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
            die "$PYTHON is older than Python 3.11; pass --python"
        say "creating the virtual environment $VENV"
        mkdir -p -- "$PREFIX"
        if [[ -n $DEPS_FROM ]]; then
            "$PYTHON" -m venv --without-pip "$VENV"
        else
            "$PYTHON" -m venv "$VENV"
        fi
    fi
    local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
    if [[ -n $DEPS_FROM ]]; then
        local ours theirs
        ours=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
        theirs=$("$DEPS_FROM/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
        [[ $(basename "$(dirname "$ours")") == "$(basename "$(dirname "$theirs")")" ]] ||
            die "--deps-from: $DEPS_FROM has another Python version than $VENV"
        # A plain path line: VENV's packages become importable, its own .pth hooks (an editable
        # casebridge, for one) do not run, so the casebridge installed here is the one imported.
        printf '%s\n' "$theirs" >"$ours/casebridge-deps.pth"
        pip+=(--no-deps --no-build-isolation --force-reinstall)
    fi
    [[ -z $WHEELHOUSE ]] || pip+=(--no-index --find-links "$WHEELHOUSE")
    say "installing casebridge from $SOURCE"
    "${pip[@]}" "$SOURCE"
    INSTALLED=1
    say "installed $("$VENV/bin/casebridge" --version)"
}

# An existing home must be the node these arguments describe; anything else is an operator mistake
# that a rerun must not paper over.
check_home() {
    "$VENV/bin/python" - "$HOME_DIR" "$AGENCY" "$FEDERATION" "$LISTEN" "$SECRET" <<'PY'
import sys
from pathlib import Path

from node.config.settings import load_config, parse_address
from node.core.home import NodeHome

root, agency, federation, listen, secret_file = sys.argv[1:]
home = NodeHome(Path(root))
config = load_config(home)
problems = []
if config.agency != agency:
    problems.append(f"it belongs to agency {config.agency}, not {agency}")
if config.federation != federation:
    problems.append(f"it belongs to federation {config.federation}, not {federation}")
if config.listen != parse_address(listen):
    problems.append(f"it listens on {config.listen}, not {listen}")
if secret_file:
    given = bytes.fromhex(Path(secret_file).read_text(encoding="ascii").strip())
    if given != home.read_federation_secret():
        problems.append(f"its federation secret differs from {secret_file}")
if problems:
    sys.exit(f"{root} already holds a node, but " + "; ".join(problems) + ". Use another --home.")
PY
}

create_home() {
    if [[ -f $HOME_DIR/casebridge.toml ]]; then
        check_home || die "refusing to reuse $HOME_DIR"
        skip "node home $HOME_DIR already holds $AGENCY of $FEDERATION"
        return
    fi
    local args=(init --agency "$AGENCY" --federation "$FEDERATION" --listen "$LISTEN")
    [[ -z $SECRET ]] || args+=(--federation-secret "$SECRET")
    for san in "${SANS[@]}"; do args+=(--san "$san"); done
    cb "${args[@]}"
}

own_home() {
    # Commands here run as root; the service reads and writes the home as its own user.
    [[ $SYSTEMD -eq 1 ]] || return 0
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        say "creating system user $SERVICE_USER"
        useradd --system --user-group --home-dir "$HOME_DIR" --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
    chown -R "$SERVICE_USER:" "$HOME_DIR"
}

write_bundle() {
    local args=(identity --bundle "$BUNDLE_OUT")
    [[ -z $ADVERTISE ]] || args+=(--advertise "$ADVERTISE")
    mkdir -p -- "$(dirname "$BUNDLE_OUT")"
    cb "${args[@]}" >/dev/null
}

pin_peers() {
    local bundle
    for bundle in "${PEER_BUNDLES[@]}"; do
        say "peer bundle $bundle"
        cb peers add --bundle "$bundle" --skip-existing "${POLICY_ARGS[@]}"
    done
}

start_background() {
    local pid
    if pid=$(running_pid); then
        if [[ $INSTALLED -eq 0 ]]; then
            skip "the node is already running (pid $pid); it re-reads its peers by itself"
            return
        fi
        say "casebridge was reinstalled: restarting the running node"
        stop_node
    fi
    mkdir -p -- "$RUN_DIR" "$LOG_DIR"
    say "starting the node in the background (log $LOG_FILE)"
    # Detached from our stdin/stdout so that callers waiting on our output are not held by the node.
    nohup "$VENV/bin/casebridge" --home "$HOME_DIR" serve </dev/null >>"$LOG_FILE" 2>&1 &
    printf '%s\n' "$!" >"$PID_FILE"
    say "pid $! (stop it with: $0 --prefix $PREFIX --stop)"
}

render_unit() {
    local text
    text=$(<"$SCRIPT_DIR/casebridge.service")
    text=${text//@UNIT@/"$UNIT"}
    text=${text//@AGENCY@/"$AGENCY"}
    text=${text//@USER@/"$SERVICE_USER"}
    text=${text//@GROUP@/"$(id -gn "$SERVICE_USER")"}
    text=${text//@HOME@/"$HOME_DIR"}
    text=${text//@VENV@/"$VENV"}
    printf '%s\n' "$text"
}

start_systemd() {
    local path=/etc/systemd/system/$UNIT.service rendered
    rendered=$(render_unit)
    if [[ -f $path && $(<"$path") == "${rendered%$'\n'}" ]]; then
        skip "unit $path is up to date"
        if systemctl is-active --quiet "$UNIT"; then
            if [[ $INSTALLED -eq 1 ]]; then
                say "casebridge was reinstalled: restarting $UNIT"
                systemctl restart "$UNIT"
            else
                skip "$UNIT is already running"
            fi
        fi
        systemctl enable --now --quiet "$UNIT"
        return
    fi
    local existed=0
    [[ -f $path ]] && existed=1
    say "writing $path"
    printf '%s' "$rendered" >"$path"
    systemctl daemon-reload
    systemctl enable --now --quiet "$UNIT"
    if [[ $existed -eq 1 ]]; then
        say "the unit changed: restarting $UNIT"
        systemctl restart "$UNIT"
    fi
}

wait_serving() {
    say "waiting up to $WAIT s for the node to report SERVING"
    if cb health --wait "$WAIT"; then
        return
    fi
    if [[ $SYSTEMD -eq 1 ]]; then
        journalctl --unit "$UNIT" --lines 20 --no-pager >&2 || true
    elif [[ -f $LOG_FILE ]]; then
        tail -n 20 -- "$LOG_FILE" >&2
    fi
    die "the node did not report SERVING within $WAIT s"
}

install_casebridge
create_home
write_bundle
pin_peers
own_home
if [[ $SYSTEMD -eq 1 ]]; then
    start_systemd
else
    start_background
fi
wait_serving
cb identity
say "done: give $BUNDLE_OUT to the peers, and read them the fingerprint above by phone"
