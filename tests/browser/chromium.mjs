// What both browser tests share: which Chromium to run, with which flags,
// and the server they are pointed at (tests/browser.sh sets DUPLEX_URL).

import { execFileSync } from 'node:child_process';

/** How long any single wait in a browser test may take. */
export const WAIT_MS = 10_000;

/** The server under test. */
export const BASE = process.env.DUPLEX_URL;
if (!BASE) {
    console.error('DUPLEX_URL is not set (run this through tests/browser.sh)');
    process.exit(2);
}

function which(program) {
    try {
        return execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim();
    } catch {
        throw new Error(`${program} not found on PATH; set CHROMIUM=/path/to/chromium`);
    }
}

/** Debian's Chromium, or the one named by $CHROMIUM. */
export const EXECUTABLE = process.env.CHROMIUM || which('chromium');

// Locked down: nothing but the loopback server is reachable, and Chromium
// phones home to nobody (no component updates, sync, QUIC or DNS).
export const CHROMIUM_ARGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-extensions',
    '--proxy-server=http://127.0.0.1:9',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*',
];
