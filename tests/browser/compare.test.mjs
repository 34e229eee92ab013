// End-to-end test of the comparison page (www/compare.html + compare.js)
// in a real headless Chromium.
//
//   DUPLEX_URL=http://127.0.0.1:PORT/ CHROMIUM=/usr/bin/chromium node compare.test.mjs
//
// Normally run through `bash tests/browser.sh`, which builds and starts the
// server and sets the environment:
//   DUPLEX_URL         the server's base URL (required)
//   CHROMIUM           the browser executable (default: `chromium` on PATH)
//   DUPLEX_ARTIFACTS   folder for screenshots and failure snapshots
//
// The page receives the chat room four ways at once: short polling, long
// polling, Server-Sent Events and a WebSocket (docs/protocol.md §9). Checked,
// in order: the chat page links to it; all four panes get ready; a message
// typed into the page's send box (sent once, with POST /api/send) arrives in
// all four panes, each with a delay measured and its requests and bytes
// counted; a message posted by someone else (from this script, not the page)
// arrives in all four too; hostile text is shown as text in every pane;
// the short-poll interval can be changed; no uncaught page errors.
//
// Every wait is bounded (WAIT_MS) and waits for a condition in the page,
// never for a fixed time. Output: one line per check, then `browser: N
// passed, N failed, N skipped`; the exit status is non-zero if any failed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { BASE, CHROMIUM_ARGS, Checklist, EXECUTABLE, WAIT_MS } from './chromium.mjs';

const ARTIFACTS = process.env.DUPLEX_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-browser-'));
fs.mkdirSync(ARTIFACTS, { recursive: true });
const PANES = ['short', 'long', 'sse', 'ws'];

const checklist = new Checklist({ onFailure: snapshot });
const check = checklist.check.bind(checklist);
let context = null;
let page = null;
let profile = null;
const log = [];
const errors = [];
const polls = []; // the page's GET /api/messages requests, as Playwright saw them

/** About how many bytes a request's head takes on the wire: the request
 *  line and the headers Chromium sent, as Playwright reports them. For
 *  reading, not asserting: docs/01-why-websocket.md compares it with the
 *  minimal requests of tests/push_costs.rs. */
async function requestHeadBytes(request) {
    const url = new URL(request.url());
    let bytes = `${request.method()} ${url.pathname}${url.search} HTTP/1.1\r\n\r\n`.length;
    for (const { name, value } of await request.headersArray()) {
        bytes += Buffer.byteLength(`${name}: ${value}\r\n`);
    }
    return bytes;
}

/** After a failure: the page's screenshot, DOM and console log. */
async function snapshot(checkName) {
    if (!page) return;
    const slug = checkName.replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/^-|-$/g, '');
    const base = path.join(ARTIFACTS, `fail-compare-${slug}`);
    try {
        await page.screenshot({ path: `${base}.png`, timeout: WAIT_MS, fullPage: true });
        fs.writeFileSync(`${base}.html`, await page.content());
    } catch (error) {
        log.push(`[snapshot failed] ${error}`);
    }
    fs.writeFileSync(`${base}.log`, log.join('\n') + '\n');
    console.log(`       page snapshot: ${base}.*`);
}

/** What each pane shows: its state, counters and logged messages. */
async function readPanes() {
    return page.evaluate((ids) => Object.fromEntries(ids.map((id) => {
        const pane = document.getElementById(id);
        const text = (selector) => pane.querySelector(selector)?.textContent ?? null;
        return [id, {
            state: pane.querySelector('.state')?.dataset.state,
            stateText: text('.state'),
            received: Number(text('.received')),
            requests: Number(text('.requests')),
            bytes: text('.bytes'),
            source: text('.source'),
            messages: [...pane.querySelectorAll('.log li.message')].map((li) => ({
                seq: li.querySelector('.seq')?.textContent,
                from: li.querySelector('.from')?.textContent,
                text: li.querySelector('.text')?.textContent,
                took: li.querySelector('.took')?.textContent ?? null,
            })),
        }];
    })), PANES);
}

/** Waits until every pane's log has a message with exactly this text. */
async function waitInAllPanes(text, from) {
    try {
        await page.waitForFunction(([ids, text, from]) => ids.every((id) =>
            [...document.querySelectorAll(`#${id} .log li.message`)].some((li) =>
                li.querySelector('.text')?.textContent === text &&
                li.querySelector('.from')?.textContent === from)),
        [PANES, text, from], { timeout: WAIT_MS });
    } catch {
        const panes = await readPanes();
        const missing = PANES.filter((id) => !panes[id].messages.some((m) => m.text === text));
        throw new Error(`within ${WAIT_MS} ms, ${JSON.stringify(text).slice(0, 80)} from ${from} did not reach: ` +
            `${missing.join(', ')}; panes: ${JSON.stringify(panes).slice(0, 1500)}`);
    }
    const panes = await readPanes();
    return Object.fromEntries(PANES.map((id) => [id, panes[id].messages.find((m) => m.text === text)]));
}

async function main() {
    console.log(`compare test: ${BASE}compare.html with ${EXECUTABLE}`);
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-chromium-compare-'));
    context = await chromium.launchPersistentContext(profile, {
        executablePath: EXECUTABLE,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1400, height: 900 },
        timeout: 30_000,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(WAIT_MS);
    page.on('console', (msg) => log.push(`[console.${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (error) => {
        log.push(`[pageerror] ${error.stack || error}`);
        errors.push(String(error));
    });
    page.on('requestfailed', (req) => log.push(`[requestfailed] ${req.url()} ${req.failure()?.errorText ?? ''}`));
    page.on('request', (req) => {
        if (new URL(req.url()).pathname === '/api/messages') polls.push(req);
    });

    await check('the chat page links to the comparison page', async () => {
        const response = await page.goto(new URL('index.html?name=linkcheck', BASE).href);
        assert.equal(response?.status(), 200);
        const href = await page.locator('a[href="compare.html"]').getAttribute('href');
        assert.equal(href, 'compare.html');
    });

    await check('all four panes get ready', async () => {
        const response = await page.goto(new URL('compare.html', BASE).href);
        assert.equal(response?.status(), 200, `GET /compare.html answered ${response?.status()}`);
        try {
            await page.waitForFunction((ids) => ids.every((id) =>
                document.querySelector(`#${id} .state`)?.dataset.state === 'ready'), PANES, { timeout: WAIT_MS });
        } catch {
            const panes = await readPanes();
            throw new Error(`not ready within ${WAIT_MS} ms: ` +
                PANES.map((id) => `${id}: ${panes[id].state} (${panes[id].stateText})`).join('; '));
        }
        await page.selectOption('#poll-interval', '250');
    }, { critical: true });

    await check('a message sent from the page arrives in all four panes, with its delay', async () => {
        const name = await page.inputValue('#name');
        const text = 'one message, four ways 👋';
        await page.fill('#input', text);
        await page.press('#input', 'Enter');
        const arrived = await waitInAllPanes(text, name);
        const seqs = new Set(PANES.map((id) => arrived[id].seq));
        assert.equal(seqs.size, 1, `every pane shows the same seq: ${JSON.stringify(arrived)}`);
        const panes = await readPanes();
        for (const id of PANES) {
            assert.match(arrived[id].took ?? '', /^\d+(\.\d)? (ms|s)$/, `${id}: a delay is shown for our own message`);
            assert.ok(panes[id].received >= 1, `${id}: counts the message`);
            assert.ok(panes[id].requests >= 1, `${id}: counts its requests`);
            assert.notEqual(panes[id].bytes, '0 B', `${id}: counts bytes`);
            assert.ok((panes[id].source ?? '').startsWith('bytes: '), `${id}: says where its bytes figure comes from`);
        }
        assert.match(await page.textContent('#notice'), /^Sent as seq \d+/);
        assert.ok(polls.length > 0, 'the page polled');
        console.log(`       note: a poll's request head from this Chromium is about ${await requestHeadBytes(polls.at(-1))} bytes`);
    });

    await check('a message posted by someone else arrives in all four panes too', async () => {
        const text = `from outside the page <b>not bold</b> & "quoted" ${Date.now()}`;
        const response = await fetch(new URL('api/send?name=outsider', BASE), { method: 'POST', body: text });
        assert.equal(response.status, 200, await response.text());
        const arrived = await waitInAllPanes(text, 'outsider');
        for (const id of PANES) {
            assert.equal(arrived[id].took, null, `${id}: no delay for a message this page did not send`);
        }
        const injected = await page.locator('.log li.message .text b').count();
        assert.equal(injected, 0, 'the text became HTML');
    });

    await check('the short-poll interval can be changed, and the pane says so', async () => {
        await page.selectOption('#poll-interval', '2000');
        await page.waitForFunction(() => document.querySelector('#short .state')?.textContent === 'polling every 2.0 s',
            null, { timeout: WAIT_MS });
        const screenshot = path.join(ARTIFACTS, 'screenshot-compare.png');
        await page.screenshot({ path: screenshot, fullPage: true });
        console.log(`       screenshot: ${screenshot}`);
    });

    await check('no uncaught errors in the page', async () => {
        assert.deepEqual(errors, []);
    });
}

try {
    await main();
} catch (error) {
    checklist.fail('harness', error);
} finally {
    await context?.close().catch(() => {});
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
}
checklist.finish();
