// permessage-deflate (RFC 7692) in a real headless Chromium: the browser
// negotiates the extension with a server started with --deflate, and text
// and binary messages, small and large, survive the round trip through
// /echo compressed both ways, and the chat room at /chat too.
//
//   DUPLEX_URL=... DUPLEX_BIN=target/release/duplex node deflate.test.mjs
//
// Normally run through `bash tests/browser.sh`, which builds the server and
// sets the environment. This test starts its own server, with `--deflate
// --trace`, on a free port (DUPLEX_BIN), since the shared one runs without
// compression; the trace shows which frames carried RSV1.
//
// Every wait is bounded (WAIT_MS) and waits for an event, never for a fixed
// time. Output: one line per check, then `browser: N passed, N failed, N
// skipped`; the exit status is non-zero if any failed.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { CHROMIUM_ARGS, Checklist, EXECUTABLE, WAIT_MS } from './chromium.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.DUPLEX_BIN;
const WWW = process.env.DUPLEX_WWW || path.join(HERE, '..', '..', 'www');
const AGREED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

const checklist = new Checklist();
const check = checklist.check.bind(checklist);
const trace = []; // the server's stderr, line by line

/** Starts `duplex --deflate --trace` on a free port; resolves to its URL. */
function startServer() {
    return new Promise((resolve, reject) => {
        if (!BIN) {
            reject(new Error('DUPLEX_BIN is not set (run this through tests/browser.sh)'));
            return;
        }
        const server = spawn(BIN, ['--addr', '127.0.0.1:0', '--root', WWW, '--deflate', '--trace'], {
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        const timer = setTimeout(() => reject(new Error('no "listening on" line within WAIT_MS')), WAIT_MS);
        let out = '';
        server.stdout.on('data', (chunk) => {
            out += chunk;
            const match = /^listening on (http:\/\/[^\s/]+)\/?\n/.exec(out);
            if (match) {
                clearTimeout(timer);
                resolve({ server, url: match[1] });
            }
        });
        let partial = '';
        server.stderr.on('data', (chunk) => {
            const lines = (partial + chunk).split('\n');
            partial = lines.pop();
            trace.push(...lines);
        });
        server.on('error', reject);
    });
}

/** Waits until a line of the server's trace (from line `from` on)
 *  matches `pattern`. */
async function waitForTrace(pattern, from = 0) {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
        if (trace.slice(from).some((line) => pattern.test(line))) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no trace line matching ${pattern} within ${WAIT_MS} ms`);
}

let server = null;
let context = null;
let profile = null;
try {
    const started = await startServer();
    server = started.server;
    const base = started.url;
    console.log(`deflate test: ${base} (duplex --deflate) with ${EXECUTABLE}`);
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-chromium-deflate-'));
    context = await chromium.launchPersistentContext(profile, {
        executablePath: EXECUTABLE,
        headless: true,
        args: CHROMIUM_ARGS,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    // Any page of the server, so that the sockets are same-origin.
    await page.goto(`${base}/no-such-page`);

    // Opens a socket from the page; resolves to what the browser reports.
    const open = (pathAndQuery) => page.evaluate(([url, waitMs]) => new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        window.sockets = window.sockets || {};
        window.sockets[url] = ws;
        const timer = setTimeout(() => reject(new Error('not open in time')), waitMs);
        ws.onopen = () => { clearTimeout(timer); resolve(ws.extensions); };
        ws.onerror = () => { clearTimeout(timer); reject(new Error('socket error')); };
    }), [`${base.replace('http', 'ws')}${pathAndQuery}`, WAIT_MS]);

    const echoUrl = `${base.replace('http', 'ws')}/echo`;

    await check('Chromium offers permessage-deflate and the server accepts it', async () => {
        const extensions = await open('/echo');
        assert.equal(extensions, AGREED);
        await waitForTrace(/Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits/);
    }, { critical: true });

    // Sends each message and compares the echo, byte for byte, in the page.
    await check('text and binary, small and large, come back intact', async () => {
        const report = await page.evaluate(([url, waitMs]) => {
            const ws = window.sockets[url];
            const repeated = 'the quick brown fox jumps over the lazy dog; '.repeat(5000); // 225 KB
            let seed = 7;
            const noisy = Array.from({ length: 70000 }, () => {
                seed = (seed * 1103515245 + 12345) % 2147483648;
                return String.fromCharCode(32 + (seed >> 16) % 95);
            }).join('');
            const binary = new Uint8Array(1 << 20).map((_, i) => (i * 7) % 251); // 1 MiB
            const sent = ['hi', 'héllo wörld ✓ '.repeat(20), repeated, noisy, binary];
            return new Promise((resolve, reject) => {
                const timer = setTimeout(() => reject(new Error('echoes did not all arrive')), waitMs * 3);
                const got = [];
                ws.onmessage = (event) => {
                    got.push(event.data);
                    if (got.length < sent.length) return;
                    clearTimeout(timer);
                    resolve(sent.map((message, i) => {
                        const back = got[i];
                        if (typeof message === 'string') return back === message ? 'same' : `text ${i} differs`;
                        const bytes = new Uint8Array(back);
                        return bytes.length === message.length && bytes.every((b, j) => b === message[j])
                            ? 'same' : `binary ${i} differs`;
                    }));
                };
                for (const message of sent) ws.send(message);
            });
        }, [echoUrl, WAIT_MS]);
        assert.deepEqual(report, ['same', 'same', 'same', 'same', 'same']);
    });

    await check('the trace shows compressed frames both ways', async () => {
        // Chromium compresses what it sends; the server compresses what
        // is worth it (not "hi").
        await waitForTrace(/<- recv FIN=1 RSV=100 TEXT/);
        await waitForTrace(/<- recv FIN=1 RSV=100 BINARY/);
        await waitForTrace(/-> send FIN=1 RSV=100 TEXT/);
        await waitForTrace(/-> send FIN=1 RSV=100 BINARY/);
        await waitForTrace(/-> send FIN=1 RSV=000 TEXT\(0x1\) MASK=0 len=2 \(7-bit\) head=\[81 02\] "hi"/);
        await waitForTrace(/permessage-deflate: inflated to 1048576 bytes/);
    });

    await check('the chat room negotiates it too, and a message comes back', async () => {
        const extensions = await open('/chat?name=zed');
        assert.equal(extensions, AGREED);
        const traceFrom = trace.length;
        const echoed = await page.evaluate(([url, waitMs]) => new Promise((resolve, reject) => {
            const ws = window.sockets[url];
            const timer = setTimeout(() => reject(new Error('no message event')), waitMs);
            ws.onmessage = (event) => {
                const data = JSON.parse(event.data);
                if (data.type === 'message' && data.from === 'zed') {
                    clearTimeout(timer);
                    resolve(data.text);
                }
            };
            ws.send('compressed both ways, in the room as on /echo: '.repeat(3));
        }), [`${base.replace('http', 'ws')}/chat?name=zed`, WAIT_MS]);
        assert.equal(echoed, 'compressed both ways, in the room as on /echo: '.repeat(3));
        // The room's broadcast went out compressed (the chat's writer
        // traces the frames it writes).
        await waitForTrace(/-> send FIN=1 RSV=100 TEXT/, traceFrom);
    });
} catch (error) {
    checklist.fail('setup', error);
} finally {
    if (context) await context.close().catch(() => {});
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    if (server) server.kill();
}

checklist.finish();
