// compare.js: one chat room, received four ways at once.
//
// Each pane below gets the room's messages through its own browser API:
//
//   short polling    fetch('/api/messages?since=N'), again every interval
//   long polling     fetch('/api/messages?since=N&wait=30'), again at once
//   Server-Sent      new EventSource('/api/events'): one response that
//     Events         never ends; the browser splits it into events
//   WebSocket        new WebSocket('/chat'): one upgraded connection
//
// The endpoints are described in docs/protocol.md §9 and built in
// src/push/http_api.rs and src/push/event_stream.rs. Every pane starts
// "from now": it shows what is said after the page opened.
//
// What each pane counts, and where the numbers come from:
//
//   messages         `message` events shown in the pane
//   HTTP requests    requests this pane made (for the event stream and the
//                    WebSocket: connections opened, reconnections included)
//   bytes received   for the two polling panes, what the browser itself
//                    reports for each response: the Resource Timing API's
//                    `PerformanceResourceTiming.transferSize` (headers and
//                    body). The browser reports nothing like it for an
//                    event stream (its entry appears only when the stream
//                    ends) or for WebSocket frames, so those two panes
//                    compute the bytes from what they received: the event
//                    lines as the server writes them, and each frame's
//                    payload plus its 2-to-10-byte header. Each pane says
//                    which it shows. Setup is not counted: the stream's
//                    response head, the WebSocket handshake and `welcome`.
//   delay            from the moment this page sent a message (POST) to the
//                    moment the pane had it, measured with
//                    `performance.now()`, a clock that only goes forward.
//                    Messages from other pages have no delay to show.
//
// Security rule, as in chat.js: text from the network is only ever put on
// the page with `textContent`, never as HTML.

'use strict';

const $ = (selector, root = document) => root.querySelector(selector);
const MAX_LOG_ITEMS = 50;
const RETRY_MS = 2000;
const encoder = new TextEncoder();

const ui = {
  composer: $('#composer'),
  name: $('#name'),
  input: $('#input'),
  send: $('#send'),
  notice: $('#notice'),
  interval: $('#poll-interval'),
  wait: $('#long-poll-wait'),
  reset: $('#reset'),
};

// ---------------------------------------------------------------------------
// Sending: once, with POST, for all four panes
// ---------------------------------------------------------------------------

// Every message this page sent: { name, text, at }. Panes match what they
// receive against it to measure each message's delay.
const sends = [];

// A name of our own, unlikely to be a member's: the server refuses to let
// an HTTP sender speak under the name of someone in the room (409 Conflict).
ui.name.value = `visitor-${1000 + (crypto.getRandomValues(new Uint16Array(1))[0] % 9000)}`;

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.input.value;
  if (text === '') return;
  ui.input.value = '';
  send(ui.name.value.trim(), text);
});

async function send(name, text) {
  const entry = { name, text, at: performance.now() };
  sends.push(entry);
  try {
    // A string body is sent as `text/plain;charset=UTF-8`: a "simple"
    // request, and same-origin anyway, so no CORS preflight.
    const response = await fetch(`/api/send?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      body: text,
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
    const took = performance.now() - entry.at;
    say(`Sent as seq ${answer.seq}; the POST was answered in ${formatMs(took)}.`);
  } catch (error) {
    entry.failed = true;
    say(`Not sent: ${error.message}`, true);
  }
}

function say(text, problem = false) {
  ui.notice.textContent = text;
  ui.notice.classList.toggle('problem', problem);
}

// ---------------------------------------------------------------------------
// A pane: counters, a log, and the delay of each message
// ---------------------------------------------------------------------------

class Pane {
  constructor(id) {
    this.root = $(`#${id}`);
    this.field = (name) => $(`.${name}`, this.root);
    this.matched = new Set(); // indexes into `sends` this pane has seen
    this.lastSeq = 0;
    this.reset();
  }

  reset() {
    this.received = 0;
    this.requests = 0;
    this.bytes = 0;
    this.delays = [];
    this.field('log').replaceChildren();
    this.render();
  }

  state(text, kind = 'ready') {
    const state = this.field('state');
    state.textContent = text;
    state.dataset.state = kind;
  }

  source(text) {
    this.field('source').textContent = text;
  }

  request() {
    this.requests += 1;
    this.render();
  }

  addBytes(count) {
    this.bytes += count;
    this.render();
  }

  /** A `message` event, as JSON.parse made it. */
  receive(message) {
    if (message.seq <= this.lastSeq) {
      this.note(`seq ${message.seq} again, or out of order`);
      return;
    }
    this.lastSeq = message.seq;
    this.received += 1;
    const delay = this.delayOf(message);
    if (delay != null) this.delays.push(delay);

    const li = document.createElement('li');
    li.className = 'message';
    const part = (className, text) => {
      const span = document.createElement('span');
      span.className = className;
      span.textContent = text;
      return span;
    };
    if (delay != null) li.append(part('took', formatMs(delay)));
    li.append(part('seq', `#${message.seq}`), part('from', message.from), part('text', message.text));
    this.append(li);
    this.render(delay);
  }

  /** The first message this page sent with this name and text that this
   *  pane has not matched yet, and how long ago it was sent. */
  delayOf(message) {
    const index = sends.findIndex((sent, i) =>
      !this.matched.has(i) && !sent.failed && sent.name === message.from && sent.text === message.text);
    if (index < 0) return null;
    this.matched.add(index);
    return performance.now() - sends[index].at;
  }

  /** The server said that messages were lost to this pane: its record no
   *  longer reached back far enough, or it restarted (and `seq` began
   *  again, so numbers below the last one seen are new, not repeats). */
  skipped() {
    this.lastSeq = 0;
    this.note('some messages were missed (the server no longer held them, or restarted)');
  }

  note(text) {
    const li = document.createElement('li');
    li.className = 'note';
    li.textContent = text;
    this.append(li);
  }

  append(li) {
    const log = this.field('log');
    log.append(li);
    while (log.children.length > MAX_LOG_ITEMS) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  render(lastDelay) {
    this.field('received').textContent = String(this.received);
    this.field('requests').textContent = String(this.requests);
    this.field('bytes').textContent = formatBytes(this.bytes);
    if (lastDelay != null) this.field('delay').textContent = formatMs(lastDelay);
    this.field('median').textContent = this.delays.length ? formatMs(median(this.delays)) : '–';
    if (this.delays.length === 0) this.field('delay').textContent = '–';
  }
}

const panes = {
  short: new Pane('short'),
  long: new Pane('long'),
  sse: new Pane('sse'),
  ws: new Pane('ws'),
};

ui.reset.addEventListener('click', () => Object.values(panes).forEach((pane) => pane.reset()));

// ---------------------------------------------------------------------------
// Bytes of fetch() responses, as the browser reports them
// ---------------------------------------------------------------------------

// The Resource Timing API records one PerformanceResourceTiming entry per
// finished request; a PerformanceObserver hears of each as it is added.
// `transferSize` is the response as it crossed the network: headers plus
// the (possibly compressed) body; 0 when it came from a cache.
panes.short.source('bytes: transferSize, as the browser reports it (headers + body)');
panes.long.source('bytes: transferSize, as the browser reports it (headers + body)');

// The entries are also kept in a buffer, 250 by default; a page that polls
// for an hour would fill it. Emptying it loses nothing the observer needs.
performance.addEventListener?.('resourcetimingbufferfull', () => performance.clearResourceTimings());

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const url = new URL(entry.name);
    if (url.pathname !== '/api/messages') continue;
    const pane = url.searchParams.has('wait') ? panes.long : panes.short;
    if (entry.transferSize > 0) {
      pane.addBytes(entry.transferSize);
    } else {
      // Some browsers report no sizes at all; say so rather than show 0.
      pane.addBytes(entry.encodedBodySize);
      pane.source('bytes: body only (this browser reports no transferSize)');
    }
  }
}).observe({ type: 'resource', buffered: true });

// ---------------------------------------------------------------------------
// Short polling and long polling
// ---------------------------------------------------------------------------

/** One `GET /api/messages`; returns `last_seq`, where to ask from next. */
async function poll(pane, query) {
  // `cache: 'no-store'`: the server already forbids caching these answers
  // (Cache-Control: no-store), and we ask the browser not to try either.
  pane.request();
  const response = await fetch(`/api/messages${query}`, { cache: 'no-store' });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
  if (answer.truncated) pane.skipped();
  for (const message of answer.messages) pane.receive(message);
  return answer.last_seq;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function shortPolling(pane) {
  // No `since` on the first request: "from now". The answer is empty and
  // says where the room is (`last_seq`), the position to poll from.
  let since = null;
  for (;;) {
    try {
      since = await poll(pane, since == null ? '' : `?since=${since}`);
      pane.state(`polling every ${formatMs(Number(ui.interval.value))}`);
    } catch (error) {
      pane.state(`error: ${error.message}; trying again`, 'error');
    }
    await sleep(Number(ui.interval.value));
  }
}

async function longPolling(pane) {
  let since = null;
  for (;;) {
    try {
      if (since == null) {
        // First a short poll, to learn the position. A long poll "from now"
        // would also work, but its "now" is when the server gets it, and a
        // message sent meanwhile would be lost to this pane.
        since = await poll(pane, '');
      }
      const wait = Number(ui.wait.value);
      pane.state(`waiting (held up to ${wait} s by the server)`);
      since = await poll(pane, `?since=${since}&wait=${wait}`);
    } catch (error) {
      pane.state(`error: ${error.message}; trying again`, 'error');
      await sleep(RETRY_MS);
    }
  }
}

// ---------------------------------------------------------------------------
// Server-Sent Events
// ---------------------------------------------------------------------------

function serverSentEvents(pane) {
  pane.source('bytes: computed from the events (the browser does not report a stream\'s size until it ends; the head and keepalive comments are not counted)');
  const source = new EventSource('/api/events');
  // `open` fires for the first connection and for every reconnection the
  // browser makes by itself (with Last-Event-ID, so nothing is missed).
  source.addEventListener('open', () => {
    pane.request();
    pane.state('stream open');
  });
  // Unnamed events arrive as `message`. `lastEventId` is the `id:` line.
  source.addEventListener('message', (event) => {
    pane.addBytes(encoder.encode(`id: ${event.lastEventId}\ndata: ${event.data}\n\n`).length);
    pane.receive(JSON.parse(event.data));
  });
  source.addEventListener('truncated', (event) => {
    pane.addBytes(encoder.encode(`event: truncated\nid: ${event.lastEventId}\ndata: ${event.data}\n\n`).length);
    pane.skipped();
  });
  source.addEventListener('dropped', () => pane.note('the server dropped this stream as too slow'));
  // On an error the browser retries by itself (after the `retry:` time),
  // unless the server answered with something that is not an event stream.
  source.addEventListener('error', () => {
    const closed = source.readyState === EventSource.CLOSED;
    pane.state(closed ? 'closed by the browser' : 'reconnecting (the browser does it by itself)', 'error');
  });
}

// ---------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------

/** Bytes of a server-to-client frame: payload plus header (RFC 6455 §5.2:
 *  2 bytes up to 125 bytes of payload, 4 up to 65535, else 10; a server
 *  never masks, so no 4-byte key). */
function frameBytes(payload) {
  return payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);
}

function webSocket(pane) {
  pane.source('bytes: computed from each frame after the welcome (payload + header; the browser does not report frame bytes)');
  const url = new URL('/chat?name=compare-ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  pane.request(); // the upgrade is an HTTP request
  ws.onmessage = (event) => {
    if (typeof event.data !== 'string') {
      pane.addBytes(frameBytes(event.data.size)); // a shared file's bytes
      return;
    }
    const message = JSON.parse(event.data);
    if (message.type === 'welcome') {
      // Not counted, like the other panes' setup: the welcome carries the
      // recent history, which the other panes (starting "from now") skip.
      pane.state(`connected as ${message.you}`);
      if (message.seq < pane.lastSeq) pane.skipped(); // the server restarted
      return;
    }
    pane.addBytes(frameBytes(encoder.encode(event.data).length));
    if (message.type === 'message') pane.receive(message);
  };
  ws.onclose = (event) => {
    pane.state(`closed (${event.code}); reconnecting in ${RETRY_MS / 1000} s`, 'error');
    setTimeout(() => webSocket(pane), RETRY_MS);
  };
}

// ---------------------------------------------------------------------------
// Numbers for people
// ---------------------------------------------------------------------------

function formatMs(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  return `${ms.toFixed(ms >= 10 ? 0 : 1)} ms`;
}

function formatBytes(n) {
  if (n >= 10 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(0)} MiB`;
  if (n >= 10 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

shortPolling(panes.short);
longPolling(panes.long);
serverSentEvents(panes.sse);
webSocket(panes.ws);
