// End-to-end test of the chat page in a real headless Chromium.
//
//   DUPLEX_URL=http://127.0.0.1:PORT/ CHROMIUM=/usr/bin/chromium node chat.test.mjs
//
// Normally run through `bash tests/browser.sh`, which builds and starts the
// server and sets the environment:
//   DUPLEX_URL         the server's base URL (required)
//   CHROMIUM           the browser executable (default: `chromium` on PATH)
//   DUPLEX_SCREENSHOT  where the two-client screenshot goes ("" for none)
//   DUPLEX_ARTIFACTS   folder for failure snapshots (default: a temp folder)
//
// Two independent clients (separate Chromium processes with separate
// profiles) join the room as alice and bob and drive the page the way a
// person would: typing into #input and pressing Enter or clicking #send.
// The page takes its name from its own URL (`/?name=alice`, see www/chat.js)
// and speaks docs/protocol.md: plain text frames up, JSON events down.
//
// Checked, in order: both reach #state OPEN; both #members lists show both
// names; a short exchange both ways (then the screenshot); text with Unicode,
// quotes, a tab and markup arrives as exactly that text and creates no
// elements; hostile strings (every C0 control, U+2028/9, emoji, `</script>`,
// JSON look-alikes) sent from a raw WebSocket inside the page come back
// through the browser's JSON.parse unchanged and are shown unchanged; an
// image sent through the file input appears, decoded, on the other page;
// #rename shows on the other page; closing alice's browser makes bob see
// "alice left" and drops her from #members; no uncaught page errors.
//
// Every wait is bounded (WAIT_MS) and waits for a condition in the page, never
// for a fixed time. Output: one line per check, then `browser: N passed, N
// failed, N skipped`; the exit status is non-zero if any check failed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { BASE, CHROMIUM_ARGS, Checklist, EXECUTABLE, WAIT_MS } from './chromium.mjs';

const SCREENSHOT = process.env.DUPLEX_SCREENSHOT ?? '';
const ARTIFACTS = process.env.DUPLEX_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-browser-'));
fs.mkdirSync(ARTIFACTS, { recursive: true });

/** JSON for an error message, cut to a readable length. */
function show(value, max = 200) {
    const json = JSON.stringify(value) ?? String(value);
    return json.length > max ? `${json.slice(0, max)}… (${json.length} chars)` : json;
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

const clients = [];

/** A browser of its own (own process, own fresh profile) showing the page as `name`. */
async function openClient(name) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), `duplex-chromium-${name}-`));
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: EXECUTABLE,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 600, height: 700 },
        timeout: 30_000,
    });
    const client = { name, profile, context, page: null, log: [], errors: [], closed: false };
    clients.push(client);
    const page = context.pages()[0] ?? (await context.newPage());
    client.page = page;
    page.setDefaultTimeout(WAIT_MS);
    page.setDefaultNavigationTimeout(WAIT_MS);
    page.on('console', (msg) => client.log.push(`[console.${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (error) => {
        client.log.push(`[pageerror] ${error.stack || error}`);
        client.errors.push(String(error));
    });
    page.on('requestfailed', (req) =>
        client.log.push(`[requestfailed] ${req.url()} ${req.failure()?.errorText ?? ''}`));
    page.on('websocket', (ws) => {
        client.log.push(`[websocket] open ${ws.url()}`);
        ws.on('close', () => client.log.push(`[websocket] closed ${ws.url()}`));
        ws.on('socketerror', (e) => client.log.push(`[websocket] error ${e}`));
    });
    const response = await page.goto(new URL(`?name=${encodeURIComponent(name)}`, BASE).href);
    assert.equal(response?.status(), 200, `GET / for ${name} answered ${response?.status()}`);
    return client;
}

async function closeClient(client) {
    if (client.closed) return;
    client.closed = true;
    await client.context.close().catch(() => {});
    fs.rmSync(client.profile, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Page helpers: every one waits for a condition, bounded by WAIT_MS.
// ---------------------------------------------------------------------------

async function waitForState(client, state) {
    // (No early exit on CLOSED: a page may reconnect by itself.)
    await client.page.waitForFunction(
        (want) => document.querySelector('#state')?.textContent.trim() === want,
        state,
        { timeout: WAIT_MS },
    ).catch(() => {});
    const now = await client.page.locator('#state').textContent({ timeout: 1000 }).catch(() => null);
    if (now?.trim() !== state) {
        throw new Error(`${client.name}: #state is ${now == null ? 'missing' : show(now)}, want ${state} (waited up to ${WAIT_MS} ms)`);
    }
}

async function members(client) {
    return client.page.$$eval('#members li', (lis) => lis.map((li) => li.textContent.trim()));
}

/** Waits until #members holds all of `present` and none of `absent`. */
async function waitForMembers(client, present, absent = []) {
    try {
        await client.page.waitForFunction(
            ([present, absent]) => {
                const names = [...document.querySelectorAll('#members li')].map((li) => li.textContent.trim());
                return present.every((n) => names.includes(n)) && absent.every((n) => !names.includes(n));
            },
            [present, absent],
            { timeout: WAIT_MS },
        );
    } catch {
        throw new Error(`${client.name}: #members is ${JSON.stringify(await members(client))}; ` +
            `want ${JSON.stringify(present)} present and ${JSON.stringify(absent)} absent within ${WAIT_MS} ms`);
    }
}

/** Types `text` into #input and sends it with Enter (or with the #send button). */
async function say(client, text, { button = false } = {}) {
    await client.page.fill('#input', text);
    if (button) await client.page.click('#send');
    else await client.page.press('#input', 'Enter');
}

async function messages(client) {
    return client.page.$$eval('#messages li.message', (lis) => lis.map((li) => ({
        from: li.querySelector('.from')?.textContent ?? null,
        text: li.querySelector('.text')?.textContent ?? null,
    })));
}

/** Waits for an li.message whose .text is exactly `text` (and, if given, whose .from contains `from`). */
async function waitForMessage(client, text, from) {
    try {
        const handle = await client.page.waitForFunction(
            ([text, from]) => [...document.querySelectorAll('#messages li.message')].find((li) =>
                li.querySelector('.text')?.textContent === text &&
                (from == null || (li.querySelector('.from')?.textContent ?? '').includes(from))),
            [text, from],
            { timeout: WAIT_MS },
        );
        return handle.asElement();
    } catch {
        const last = (await messages(client)).slice(-4).map((m) => `${show(m.from, 40)}: ${show(m.text, 120)}`);
        throw new Error(`${client.name}: no li.message from ${from ?? 'anyone'} with .text ${show(text)} ` +
            `within ${WAIT_MS} ms; the last messages are:\n  ${last.join('\n  ')}`);
    }
}

/** Waits for an li.event whose text mentions `name` and `word` ("joined", "left"). */
async function waitForEvent(client, name, word) {
    try {
        await client.page.waitForFunction(
            ([name, word]) => [...document.querySelectorAll('#messages li.event')].some((li) =>
                li.textContent.includes(name) && li.textContent.includes(word)),
            [name, word],
            { timeout: WAIT_MS },
        );
    } catch {
        const events = await client.page.$$eval('#messages li.event', (lis) => lis.map((li) => li.textContent.trim()));
        throw new Error(`${client.name}: no li.event mentioning ${JSON.stringify(name)} and ${JSON.stringify(word)} ` +
            `within ${WAIT_MS} ms; the last events are ${show(events.slice(-5), 400)}`);
    }
}

// ---------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------

// Text that would be markup if the page used innerHTML, plus Unicode outside
// the BMP, quotes, a backslash and a tab. Not at either end: a page may trim.
const HOSTILE_UI_TEXT = 'héllo "wörld" 😀 <b>html</b> & \\ \t\'quoted\' <img src=x onerror="window.__xss=1"> end';

// Strings that stress JSON encoding and decoding on both sides: every escape
// JSON has, every C0 control character, the two characters that are valid in
// JSON but not in JavaScript source before ES2019, astral-plane characters,
// markup and a string that looks like a protocol message.
const C0 = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('');
const JSON_STRINGS = [
    '"',
    '\\',
    '\\"',
    '"\\"\\\\"',
    '\\u0041 is not A',
    '/ and \\/',
    `C0: ${C0} end`,
    'nul:\u0000:nul',
    'bs\bff\fnl\nlf\rtab\t',
    'del\u007fc1\u0080\u009f',
    'ls\u2028ps\u2029',
    'bom\ufeffzwj\u200dnbsp\u00a0',
    '😀',
    '👋🏽',
    '👨‍👩‍👧‍👦',
    '𝄞 (U+1D11E)',
    'e\u0301 vs \u00e9',
    '</script><script>window.__xss=1</script>',
    '<!-- -->]]>',
    '{"type":"message","text":"injected","from":"mallory"}',
    '\'single\' "double" `back`',
    'mixed ' + '"\\\n\u2028😀<>&'.repeat(500),
];

async function checkJsonRoundTrip(client) {
    // A raw WebSocket opened inside the page: the browser's own JSON.parse
    // reads what the server wrote, and the browser's own UTF-8 encoder wrote
    // what the server read.
    const result = await client.page.evaluate(async ({ strings, wait }) => {
        const url = new URL('/chat?name=probe', location.href);
        url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const ws = new WebSocket(url.href);
        const received = [];
        const raw = [];
        const other = [];
        const done = new Promise((resolve, reject) => {
            const timer = setTimeout(() => resolve('timeout'), wait);
            ws.onerror = () => { clearTimeout(timer); resolve('socket error'); };
            ws.onclose = (e) => { clearTimeout(timer); resolve(`closed ${e.code} ${e.reason}`); };
            ws.onopen = () => {
                // The protocol (docs/protocol.md): a text frame is the
                // message itself, exactly as typed; the server answers every
                // member, the sender included, with a JSON `message` event.
                for (const text of strings) ws.send(text);
            };
            ws.onmessage = (event) => {
                if (typeof event.data !== 'string') return;
                let msg;
                try { msg = JSON.parse(event.data); } catch (e) {
                    clearTimeout(timer); resolve(`unparsable frame ${JSON.stringify(event.data.slice(0, 200))}: ${e}`);
                    return;
                }
                if (msg.type === 'message' && msg.from === 'probe') {
                    received.push(msg.text);
                    raw.push(event.data);
                    if (received.length === strings.length) { clearTimeout(timer); resolve('ok'); }
                } else {
                    other.push(event.data.slice(0, 300));
                }
            };
        });
        const status = await done;
        ws.close(1000);
        return { status, received, raw, other };
    }, { strings: JSON_STRINGS, wait: WAIT_MS });

    assert.equal(result.status, 'ok',
        `probe socket: ${result.status} after ${result.received.length}/${JSON_STRINGS.length} echoes; ` +
        `other frames: ${show(result.other.slice(-5), 600)}`);
    for (let i = 0; i < JSON_STRINGS.length; i++) {
        assert.equal(result.received[i], JSON_STRINGS[i],
            `string #${i} ${show(JSON_STRINGS[i])} did not survive the round trip: the server sent ${show(result.raw[i], 400)}`);
    }
}

const checklist = new Checklist({ onFailure: snapshot });
const check = checklist.check.bind(checklist);

/** After a failure: each open page's screenshot, DOM and console log. */
async function snapshot(checkName) {
    const slug = checkName.replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/^-|-$/g, '');
    for (const client of clients) {
        if (client.closed) continue;
        const base = path.join(ARTIFACTS, `fail-${slug}-${client.name}`);
        try {
            await client.page.screenshot({ path: `${base}.png`, timeout: WAIT_MS });
            fs.writeFileSync(`${base}.html`, await client.page.content());
        } catch (error) {
            client.log.push(`[snapshot failed] ${error}`);
        }
        fs.writeFileSync(`${base}.log`, client.log.join('\n') + '\n');
    }
    console.log(`       page snapshots: ${ARTIFACTS}/fail-${slug}-*`);
}

/** Both pages side by side, as one PNG. */
async function screenshotPair(left, right, file) {
    const shots = [];
    for (const client of [left, right]) {
        shots.push((await client.page.screenshot({ type: 'png' })).toString('base64'));
    }
    const page = await right.context.newPage();
    try {
        await page.setViewportSize({ width: 1224, height: 740 });
        const pane = (client, b64) => `<figure style="margin:0">
            <figcaption style="font:600 14px/24px sans-serif;color:#fff;padding-left:2px">${client.name}'s browser</figcaption>
            <img style="display:block;box-shadow:0 1px 4px #0006" src="data:image/png;base64,${b64}"></figure>`;
        await page.setContent(`<!doctype html><html><body style="margin:0;background:#5b6270;display:flex;gap:12px;padding:2px 6px 6px">
            ${pane(left, shots[0])}${pane(right, shots[1])}</body></html>`);
        await page.waitForFunction(() => [...document.images].every((img) => img.complete && img.naturalWidth > 0));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        await page.screenshot({ path: file, type: 'png' });
    } finally {
        await page.close();
    }
    const size = fs.statSync(file).size;
    if (size > 300 * 1024) console.log(`       warning: ${file} is ${Math.round(size / 1024)} KiB (want < 300 KiB)`);
    return size;
}

// A 4x4 PNG, red and blue quarters.
const TINY_PNG = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAGElEQVR42mP4z8AARGDiPwMKB0LBhJA4AJ6jD/EhJkfGAAAAAElFTkSuQmCC',
    'base64');

async function main() {
    console.log(`browser test: ${BASE} with ${EXECUTABLE}`);
    let alice, bob;

    await check('two independent clients open the page and reach OPEN', async () => {
        alice = await openClient('alice');
        await waitForState(alice, 'OPEN');
        bob = await openClient('bob');
        await waitForState(bob, 'OPEN');
    }, { critical: true });

    await check('each page lists both members', async () => {
        await waitForMembers(alice, ['alice', 'bob']);
        await waitForMembers(bob, ['alice', 'bob']);
        await waitForEvent(alice, 'bob', 'joined');
    }, { critical: true });

    await check('a short exchange both ways (Enter and the Send button)', async () => {
        await say(alice, 'hi bob 👋');
        await waitForMessage(bob, 'hi bob 👋', 'alice');
        await waitForMessage(alice, 'hi bob 👋', 'alice');
        await say(bob, 'hello alice!', { button: true });
        await waitForMessage(alice, 'hello alice!', 'bob');
        await waitForMessage(bob, 'hello alice!', 'bob');
        if (SCREENSHOT) {
            const size = await screenshotPair(alice, bob, SCREENSHOT);
            console.log(`       screenshot: ${SCREENSHOT} (${Math.round(size / 1024)} KiB)`);
        }
    });

    await check('Unicode, quotes and markup arrive as exactly that text, not HTML', async () => {
        await say(alice, HOSTILE_UI_TEXT);
        for (const client of [bob, alice]) {
            await waitForMessage(client, HOSTILE_UI_TEXT, 'alice');
            const injected = await client.page.locator('#messages li.message .text b, #messages li.message .text img').count();
            assert.equal(injected, 0, `${client.name}: the message text became HTML elements`);
            assert.equal(await client.page.evaluate(() => window.__xss), undefined, `${client.name}: an injected handler ran`);
        }
    });

    await check('hostile strings survive the JSON round trip through the browser', async () => {
        await checkJsonRoundTrip(bob);
        // And the page shows them as they are (the single-line ones: a
        // newline may fairly be rendered differently, but textContent keeps it).
        const shown = JSON_STRINGS.filter((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s));
        try {
            await bob.page.waitForFunction((want) => {
                const have = new Set([...document.querySelectorAll('#messages li.message .text')].map((el) => el.textContent));
                return want.every((text) => have.has(text));
            }, shown, { timeout: WAIT_MS });
        } catch {
            const have = new Set((await messages(bob)).map((m) => m.text));
            const missing = shown.filter((text) => !have.has(text));
            throw new Error(`bob: the page does not show these exactly as .text within ${WAIT_MS} ms: ${show(missing, 600)}`);
        }
        assert.equal(await bob.page.evaluate(() => window.__xss), undefined, 'an injected <script> ran');
        await waitForEvent(bob, 'probe', 'left');
        await waitForMembers(bob, ['alice', 'bob'], ['probe']);
    });

    await check('an image sent through the file input appears on the other page', async () => {
        const input = alice.page.locator('input[type=file]');
        if ((await input.count()) === 0) return { skipped: 'the page has no file input' };
        await input.first().setInputFiles({ name: 'tiny.png', mimeType: 'image/png', buffer: TINY_PNG });
        try {
            await bob.page.waitForFunction(() => [...document.querySelectorAll('#messages li.file img')]
                .some((img) => img.complete && img.naturalWidth === 4 && img.naturalHeight === 4), null, { timeout: WAIT_MS });
        } catch {
            throw new Error(`bob: no decoded 4x4 image in li.file within ${WAIT_MS} ms`);
        }
    });

    await check('renaming with #name and #rename shows on the other page', async () => {
        if ((await bob.page.locator('#rename').count()) === 0) return { skipped: 'the page has no #rename' };
        await bob.page.fill('#name', 'bobby');
        await bob.page.click('#rename');
        await waitForMembers(alice, ['alice', 'bobby'], ['bob']);
        await waitForMembers(bob, ['alice', 'bobby'], ['bob']);
    });

    await check('when alice closes her page, bob sees her leave', async () => {
        await closeClient(alice);
        await waitForEvent(bob, 'alice', 'left');
        await waitForMembers(bob, [], ['alice']);
        await waitForState(bob, 'OPEN');
    });

    await check('no uncaught errors in either page', async () => {
        for (const client of [alice, bob]) {
            if (!client) continue;
            assert.deepEqual(client.errors, [], `${client.name}: uncaught errors in the page`);
        }
    });
}

try {
    await main();
} catch (error) {
    checklist.fail('harness', error);
} finally {
    for (const client of clients) await closeClient(client);
}
checklist.finish();
