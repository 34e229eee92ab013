#!/usr/bin/env bash
# End-to-end tests of the pages in a real headless Chromium, against one
# server:
#   - the chat page (www/index.html + www/chat.js): two independent browser
#     clients join /chat, exchange messages through the real UI, and one
#     leaves (tests/browser/chat.test.mjs);
#   - the comparison page (www/compare.html + www/compare.js): one message
#     arrives by short polling, long polling, Server-Sent Events and
#     WebSocket (tests/browser/compare.test.mjs);
#   - permessage-deflate: Chromium negotiates it with a second server, which
#     that test starts itself with --deflate, and messages survive
#     compressed (tests/browser/deflate.test.mjs).
# Each test prints `browser: N passed, N failed, N skipped`; this script adds
# them up into one last line of the same form.
#
#   bash tests/browser.sh
#
# Needs: cargo, node >= 20 + npm, and Debian's `chromium` (installed with
# apt-get when missing; Playwright's own browser download is never used, only
# the `playwright-core` driver from tests/browser/package-lock.json).
#
# Environment:
#   DUPLEX_BIN              use this server binary instead of building one
#                           with `cargo build --release --locked`
#   DUPLEX_WWW              serve this folder instead of www/ (for debugging)
#   CHROMIUM                the browser to drive (default: `command -v chromium`)
#   DUPLEX_BROWSER_TIMEOUT  seconds each node test may run before it is killed (180)
#   DUPLEX_UPDATE_SCREENSHOT=1  overwrite docs/screenshot-chat.png (the README's
#                           picture) with this run's screenshot; without it
#                           the file is only written when it does not exist,
#                           so a test run leaves the work tree clean
#
# Output: target/browser/ (screenshot-chat.png: alice's and bob's pages side by
# side after a short exchange; screenshot-compare.png: the comparison page;
# server.log; on failure fail-*.png, fail-*.html and fail-*.log: each page's
# screenshot, DOM and console). Exits non-zero if
# any check fails or anything on the way (install, build, server start) goes
# wrong.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/tests/browser"
WORK="${CARGO_TARGET_DIR:-$ROOT/target}/browser"
NODE_TIMEOUT="${DUPLEX_BROWSER_TIMEOUT:-180}"
WWW="${DUPLEX_WWW:-$ROOT/www}"
SCREENSHOT="$WORK/screenshot-chat.png"
DOCS_SCREENSHOT="$ROOT/docs/screenshot-chat.png"

say() { printf '[browser] %s\n' "$*" >&2; }
die() { printf '[browser] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. Tools ------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node is not installed (need node >= 20 and npm)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$NODE_MAJOR" -ge 20 ]] || die "node $(node --version) is too old: playwright-core needs node >= 20"

# A fresh CI machine has no browser. Debian's package is the only one that can
# be installed here (Playwright's browser downloads are not reachable). The
# emoji font is only for the screenshot: without it 👋 renders as a box.
PKGS=()
if [[ -z "${CHROMIUM:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
    PKGS+=(chromium)
fi
if ! dpkg-query -W -f='${Status}' fonts-noto-color-emoji 2>/dev/null | grep -q 'ok installed'; then
    PKGS+=(fonts-noto-color-emoji)
fi
if [[ ${#PKGS[@]} -gt 0 ]]; then
    say "installing Debian packages: ${PKGS[*]}"
    SUDO=""
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "${PKGS[*]} missing and we are not root (no sudo) to apt-get install them"
        SUDO="sudo"
    fi
    timeout 600 $SUDO apt-get update -qq || die "apt-get update failed"
    timeout 900 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PKGS[@]}" ||
        die "apt-get install ${PKGS[*]} failed"
fi
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
[[ -n "$CHROMIUM" && -x "$CHROMIUM" ]] || die "no chromium executable (looked for \`chromium\` on PATH; set CHROMIUM=/path)"
say "browser: $CHROMIUM ($(timeout 30 "$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"

# --- 2. The Playwright driver (playwright-core only: no browser download) -------
say "installing tests/browser dependencies (npm)"
(
    cd "$HERE"
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_config_audit=false npm_config_fund=false \
        npm_config_update_notifier=false
    if [[ -f package-lock.json ]]; then
        timeout 300 npm ci --no-audit --no-fund --loglevel=error
    else
        timeout 300 npm install --no-audit --no-fund --loglevel=error
    fi
) || die "npm could not install tests/browser's dependencies"

# --- 3. The server binary ---------------------------------------------------------
if [[ -n "${DUPLEX_BIN:-}" ]]; then
    BIN="$DUPLEX_BIN"
else
    say "building duplex (cargo build --release --locked)"
    (cd "$ROOT" && timeout 1200 cargo build --release --locked) || die "cargo build failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/duplex"
fi
[[ -x "$BIN" ]] || die "server binary $BIN does not exist or is not executable"
[[ -d "$WWW" ]] || die "static root $WWW does not exist"

# --- 4. Start it on an ephemeral port ---------------------------------------------
mkdir -p "$WORK"
rm -f "$WORK"/fail-* "$WORK/server.log" "$WORK/server.stdout" "$SCREENSHOT"
TMP="$(mktemp -d)"
SERVER_PID=""
DRAIN_PID=""
cleanup() {
    # Only the processes this script started, by PID.
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$DRAIN_PID" ]]; then
        kill "$DRAIN_PID" 2>/dev/null || true
        wait "$DRAIN_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# The server prints exactly one stdout line, `listening on http://HOST:PORT`,
# once it is listening. Read it through a FIFO: we wait exactly that long
# (no sleeps), bounded by `read -t`.
mkfifo "$TMP/stdout"
"$BIN" --addr 127.0.0.1:0 --root "$WWW" >"$TMP/stdout" 2>"$WORK/server.log" &
SERVER_PID=$!
exec 3<"$TMP/stdout"
LINE=""
if ! IFS= read -r -t 30 LINE <&3; then
    sed 's/^/  server: /' "$WORK/server.log" >&2 || true
    die "server did not print its 'listening on' line within 30 s (got: '${LINE}')"
fi
# Keep draining stdout so a later write can never block or hit EPIPE.
cat <&3 >>"$WORK/server.stdout" &
DRAIN_PID=$!
exec 3<&-
if [[ ! "$LINE" =~ ^listening\ on\ (http://[^/[:space:]]+)/?$ ]]; then
    die "unexpected first stdout line from server: '$LINE' (want 'listening on http://HOST:PORT')"
fi
URL="${BASH_REMATCH[1]}/"
say "server (pid $SERVER_PID) at $URL"

# --- 5. The browser tests ----------------------------------------------------------
# Both run even if the first fails; the totals and the exit status cover both.
TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0
FAILED_TESTS=()
for TEST in chat compare deflate; do
    START=$SECONDS
    RC=0
    DUPLEX_URL="$URL" CHROMIUM="$CHROMIUM" DUPLEX_SCREENSHOT="$SCREENSHOT" DUPLEX_ARTIFACTS="$WORK" \
        DUPLEX_BIN="$BIN" DUPLEX_WWW="$WWW" \
        timeout --kill-after=15 "$NODE_TIMEOUT" node "$HERE/$TEST.test.mjs" | tee "$TMP/$TEST.out" || RC=$?
    # (With `pipefail`, set at the top, RC is node's status, not tee's.)
    say "$TEST test finished in $((SECONDS - START)) s (exit status $RC)"
    SUMMARY="$(grep -E '^browser: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$TMP/$TEST.out" | tail -n 1 || true)"
    if [[ "$SUMMARY" =~ ^browser:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        TOTAL_PASSED=$((TOTAL_PASSED + BASH_REMATCH[1]))
        TOTAL_FAILED=$((TOTAL_FAILED + BASH_REMATCH[2]))
        TOTAL_SKIPPED=$((TOTAL_SKIPPED + BASH_REMATCH[3]))
    elif [[ "$RC" == 0 ]]; then
        RC=1 # passed without saying so: count it as a failure
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        SERVER_RC=0
        wait "$SERVER_PID" 2>/dev/null || SERVER_RC=$?
        SERVER_PID=""
        tail -n 50 "$WORK/server.log" | sed 's/^/  server: /' >&2 || true
        if [[ "$SERVER_RC" -gt 128 ]]; then
            die "the server died during the $TEST test (signal $((SERVER_RC - 128)): $(kill -l $((SERVER_RC - 128)) 2>/dev/null || echo '?'))"
        fi
        die "the server exited during the $TEST test (status $SERVER_RC)"
    fi
    if [[ "$RC" == 124 || "$RC" == 137 ]]; then
        FAILED_TESTS+=("$TEST (timed out after ${NODE_TIMEOUT}s)")
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
    elif [[ "$RC" != 0 ]]; then
        FAILED_TESTS+=("$TEST")
    fi
done
echo "browser: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped (chat + compare + deflate)"
if [[ ${#FAILED_TESTS[@]} -gt 0 ]]; then
    say "server log (last 30 lines):"
    tail -n 30 "$WORK/server.log" | sed 's/^/  server: /' >&2 || true
    die "browser tests failed: ${FAILED_TESTS[*]}; page snapshots and console logs are in $WORK"
fi
[[ -s "$SCREENSHOT" ]] || die "the test passed but wrote no screenshot at $SCREENSHOT"
if [[ ! -e "$DOCS_SCREENSHOT" || "${DUPLEX_UPDATE_SCREENSHOT:-}" == 1 ]]; then
    mkdir -p "$(dirname "$DOCS_SCREENSHOT")"
    cp "$SCREENSHOT" "$DOCS_SCREENSHOT"
    say "wrote $DOCS_SCREENSHOT"
fi
