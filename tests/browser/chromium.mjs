// What the browser tests share: which Chromium to run, with which flags,
// the server they are pointed at (tests/browser.sh sets DUPLEX_URL), and
// the checklist that runs their checks and prints the closing line.

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

/**
 * Runs a test's checks in order and keeps the score. A check that throws
 * fails (and `onFailure(name)` may save the pages for a post-mortem); a
 * failed *critical* check skips the rest, which depend on it. A check may
 * return `{ skipped: 'why' }`. `finish` prints the line tests/browser.sh
 * adds up, `browser: N passed, N failed, N skipped`, and exits: non-zero
 * if anything failed or nothing passed.
 */
export class Checklist {
    constructor({ onFailure } = {}) {
        this.results = [];
        this.stopped = false;
        this.onFailure = onFailure;
    }

    async check(name, fn, { critical = false } = {}) {
        if (this.stopped) {
            this.results.push('skipped');
            console.log(`skip - ${name} (an earlier check it depends on failed)`);
            return;
        }
        const start = Date.now();
        try {
            const note = await fn();
            if (note?.skipped) {
                this.results.push('skipped');
                console.log(`skip - ${name}: ${note.skipped}`);
                return;
            }
            this.results.push('passed');
            console.log(`ok   - ${name} (${Date.now() - start} ms)`);
        } catch (error) {
            this.results.push('failed');
            console.log(`FAIL - ${name} (${Date.now() - start} ms)\n       ${String(error.message || error).replace(/\n/g, '\n       ')}`);
            if (this.onFailure) await this.onFailure(name);
            if (critical) this.stopped = true;
        }
    }

    /** Something outside any check went wrong (setup, the harness). */
    fail(what, error) {
        this.results.push('failed');
        console.log(`FAIL - ${what}: ${error.stack || error}`);
    }

    finish() {
        const count = (what) => this.results.filter((r) => r === what).length;
        console.log(`browser: ${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped`);
        process.exit(count('failed') === 0 && count('passed') > 0 ? 0 : 1);
    }
}
