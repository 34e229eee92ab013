#!/usr/bin/env bash
# Run the Autobahn|Testsuite (the de-facto RFC 6455 conformance suite) in
# fuzzingclient mode against duplex's /echo endpoint.
#
#   bash tests/autobahn.sh            cases 1-10 on a plain server
#   bash tests/autobahn.sh deflate    cases 1-13 on a server started with
#                                     --deflate (12.* and 13.* are
#                                     permessage-deflate, RFC 7692)
#
# Environment:
#   DUPLEX_BIN               use this server binary instead of building one
#                            with `cargo build --release --locked`
#   DUPLEX_AUTOBAHN_CACHE    where the Python 2.7 virtualenv is kept
#                            (default ${XDG_CACHE_HOME:-$HOME/.cache}/duplex-autobahn)
#   DUPLEX_AUTOBAHN_TIMEOUT  seconds wstest may run before it is killed
#                            (1200; 3600 in deflate mode)
#   PYTHON2                  the Python 2.7 interpreter to use (default: pyenv's 2.7.18)
#
# Output: target/autobahn/reports/ (index.html is the suite's own report),
# target/autobahn/summary.md, target/autobahn/server.log; in deflate mode
# the same under target/autobahn-deflate/.
# Exits non-zero if any case fails (see tests/autobahn/summary.py), if no case
# ran, or if anything on the way (install, build, server start) goes wrong.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/tests/autobahn"

say() { printf '[autobahn] %s\n' "$*" >&2; }
die() { printf '[autobahn] ERROR: %s\n' "$*" >&2; exit 1; }

# The mode decides the server's flags and the cases run.
case "${1:-plain}" in
    plain)
        WORK="$ROOT/target/autobahn"
        SERVER_FLAGS=()
        EXCLUDE='"12.*", "13.*"'
        DEFAULT_TIMEOUT=1200
        ;;
    deflate)
        WORK="$ROOT/target/autobahn-deflate"
        SERVER_FLAGS=(--deflate)
        EXCLUDE=''
        # 216 more cases of 1,000 messages each, up to 128 KiB.
        DEFAULT_TIMEOUT=3600
        ;;
    *) die "unknown mode '${1}' (want: plain or deflate)" ;;
esac
WSTEST_TIMEOUT="${DUPLEX_AUTOBAHN_TIMEOUT:-$DEFAULT_TIMEOUT}"

# `wait -n -p` (used below to notice a server crash mid-run) is bash 5.1+.
if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
    die "bash 5.1 or newer is required (this is $BASH_VERSION)"
fi

# --- 1. Python 2.7 ----------------------------------------------------------
# autobahntestsuite 0.8.2 is Python 2 only. It has to come from pyenv: no
# other source of a 2.7 interpreter is reachable from these machines.
if [[ -n "${PYTHON2:-}" ]]; then
    PY2="$PYTHON2"
else
    PYENV_ROOT_DIR=""
    if command -v pyenv >/dev/null 2>&1; then
        PYENV_ROOT_DIR="$(pyenv root 2>/dev/null || true)"
    fi
    PYENV_ROOT_DIR="${PYENV_ROOT_DIR:-${PYENV_ROOT:-$HOME/.pyenv}}"
    PY2="$PYENV_ROOT_DIR/versions/2.7.18/bin/python"
fi
if [[ ! -x "$PY2" ]]; then
    die "Python 2.7.18 not found at $PY2 (expected from pyenv: 'pyenv versions' should list 2.7.18).
The Autobahn testsuite needs Python 2.7 and cannot run without it; set PYTHON2=/path/to/python2.7 to use another one."
fi
PY2_VERSION="$("$PY2" -c 'import sys; sys.stdout.write("%d.%d.%d" % sys.version_info[:3])')" ||
    die "$PY2 does not run"
[[ "$PY2_VERSION" == 2.7.* ]] || die "$PY2 is Python $PY2_VERSION, not 2.7"

# --- 2. The virtualenv, cached outside the repo -----------------------------
# Keyed by the interpreter version and the pin files, so changing a pin
# builds a new one. The venv is built in place (virtualenvs are not
# relocatable) and marked ready only after `wstest --help` works; a half-built
# one from an interrupted run is thrown away and rebuilt.
CACHE="${DUPLEX_AUTOBAHN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/duplex-autobahn}"
KEY="$( { echo "$PY2_VERSION"; cat "$HERE/bootstrap-requirements.txt" "$HERE/requirements.txt"; } |
    sha256sum | cut -c1-16)"
VENV="$CACHE/venv-$KEY"
WSTEST="$VENV/bin/wstest"
mkdir -p "$CACHE"

install_venv() {
    say "installing autobahntestsuite into $VENV (first run only; takes about a minute)"
    rm -rf "$VENV" "$CACHE/bootstrap-$KEY"
    # virtualenv itself, as a plain directory on PYTHONPATH (no global install).
    "$PY2" -m pip install --no-input --disable-pip-version-check --no-warn-script-location \
        --target "$CACHE/bootstrap-$KEY" -r "$HERE/bootstrap-requirements.txt"
    PYTHONPATH="$CACHE/bootstrap-$KEY" "$PY2" -m virtualenv --no-periodic-update \
        --app-data "$CACHE/virtualenv-app-data" -p "$PY2" "$VENV"
    "$VENV/bin/python" -m pip install --no-input --disable-pip-version-check \
        -r "$HERE/requirements.txt"
    "$WSTEST" --help >/dev/null || die "wstest was installed but 'wstest --help' fails"
    touch "$VENV/.ready"
    rm -rf "$CACHE/bootstrap-$KEY"
    # Venvs for older pin sets are of no more use.
    find "$CACHE" -mindepth 1 -maxdepth 1 -name 'venv-*' ! -name "venv-$KEY" -exec rm -rf {} +
}

(
    # Two concurrent runs must not build the same venv at once.
    flock 9
    if [[ ! -f "$VENV/.ready" ]]; then
        install_venv
    fi
) 9>"$CACHE/lock"
[[ -x "$WSTEST" ]] || die "no wstest at $WSTEST after install"

# --- 3. The server binary ---------------------------------------------------
if [[ -n "${DUPLEX_BIN:-}" ]]; then
    BIN="$DUPLEX_BIN"
else
    say "building duplex (cargo build --release --locked)"
    (cd "$ROOT" && cargo build --release --locked)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/duplex"
fi
[[ -x "$BIN" ]] || die "server binary $BIN does not exist or is not executable"

# --- 4. Start it on an ephemeral port ---------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK/reports"
TMP="$(mktemp -d)"
SERVER_PID=""
DRAIN_PID=""
WSTEST_PID=""
cleanup() {
    # Only the processes this script started, by PID.
    if [[ -n "$WSTEST_PID" ]] && kill -0 "$WSTEST_PID" 2>/dev/null; then
        kill "$WSTEST_PID" 2>/dev/null || true  # timeout(1) passes it on to wstest
        wait "$WSTEST_PID" 2>/dev/null || true
    fi
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$DRAIN_PID" ]]; then
        kill "$DRAIN_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# The server announces its address as its first stdout line. Read it through
# a FIFO so we wait exactly until it is listening (no sleeps), with a bound.
mkfifo "$TMP/stdout"
"$BIN" --addr 127.0.0.1:0 "${SERVER_FLAGS[@]}" >"$TMP/stdout" 2>"$WORK/server.log" &
SERVER_PID=$!
exec 3<"$TMP/stdout"
LINE=""
if ! IFS= read -r -t 30 LINE <&3; then
    sed 's/^/  server: /' "$WORK/server.log" >&2 || true
    die "server did not print its 'listening on' line (it exited, or said nothing for 30 s; got: '${LINE}')"
fi
# Keep draining stdout so a later write can never block or hit EPIPE.
cat <&3 >>"$WORK/server.stdout" &
DRAIN_PID=$!
exec 3<&-
say "server (pid $SERVER_PID): $LINE"
if [[ ! "$LINE" =~ ^listening\ on\ http://([^/[:space:]]+)/?$ ]]; then
    die "unexpected first stdout line from server: '$LINE' (want 'listening on http://HOST:PORT')"
fi
URL="ws://${BASH_REMATCH[1]}/echo"

# --- 5. Run the fuzzing client -----------------------------------------------
sed -e "s|@OUTDIR@|$WORK/reports|" -e "s|@URL@|$URL|" -e "s|@EXCLUDE@|$EXCLUDE|" \
    "$HERE/fuzzingclient.json.in" >"$WORK/fuzzingclient.json"
say "running wstest -m fuzzingclient against $URL (timeout ${WSTEST_TIMEOUT}s)"
START=$SECONDS
# wstest never exits if the server stops answering (it waits for a
# connection that will not come), so it runs under `timeout`, and we stop
# waiting for it as soon as the server process dies.
(
    cd "$WORK"
    PYTHONWARNINGS=ignore PYTHONUNBUFFERED=1 exec timeout --kill-after=30 "$WSTEST_TIMEOUT" \
        "$WSTEST" -m fuzzingclient -s "$WORK/fuzzingclient.json"
) &
WSTEST_PID=$!
FINISHED=""
RC=0
wait -n -p FINISHED "$WSTEST_PID" "$SERVER_PID" || RC=$?
if [[ "$FINISHED" == "$SERVER_PID" ]]; then
    SERVER_PID=""
    kill "$WSTEST_PID" 2>/dev/null || true
    wait "$WSTEST_PID" 2>/dev/null || true
    say "server log (last 50 lines):"
    tail -n 50 "$WORK/server.log" | sed 's/^/  server: /' >&2 || true
    die "the server exited (status $RC) while the suite was running"
fi
say "wstest finished in $((SECONDS - START)) s (exit status $RC)"
if [[ "$RC" == 124 || "$RC" == 137 ]]; then
    die "wstest timed out after ${WSTEST_TIMEOUT}s; see $WORK/server.log and the last 'Running test case' line above"
elif [[ "$RC" != 0 ]]; then
    die "wstest failed with exit status $RC"
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    die "the server is no longer running after the suite"
fi

# --- 6. Summarise ------------------------------------------------------------
say "HTML report: $WORK/reports/index.html"
if ! python3 "$HERE/summary.py" "$WORK/reports" "$WORK/summary.md"; then
    say "server log (last 50 lines of $WORK/server.log):"
    tail -n 50 "$WORK/server.log" | sed 's/^/  server: /' >&2 || true
    die "the Autobahn suite did not pass; per-case details are in $WORK/reports/"
fi
