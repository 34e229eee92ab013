// chat.js: the browser's half of the duplex chat room.
//
// Everything the page does goes through one object, the browser's
// `WebSocket` (WHATWG HTML Living Standard, "Web sockets"; RFC 6455 on the
// wire). Its whole API is small, and this file uses all of it:
//
//   new WebSocket(url)   starts the opening handshake; returns at once
//   ws.readyState        CONNECTING (0), OPEN (1), CLOSING (2), CLOSED (3)
//   ws.onopen            the handshake succeeded: `send` may be called
//   ws.onmessage         a whole message arrived (never a fragment)
//   ws.onerror           something failed; deliberately says nothing more
//   ws.onclose           the connection is over: code, reason, wasClean
//   ws.send(data)        queues a message; never blocks
//   ws.bufferedAmount    bytes queued by `send` not yet handed to the network
//   ws.binaryType        how binary messages arrive: "blob" or "arraybuffer"
//   ws.close(code, why)  starts the closing handshake
//
// What the server sends and expects is in docs/protocol.md. In short: every
// text frame from the server is one JSON event ({"type": "message", ...});
// we send plain text, `/nick NEW` to rename, and files as binary frames
// announced by `/file TYPE NAME`.
//
// Security rule for the whole file: text from the network (names, messages,
// file names, close reasons) is only ever put on the page with
// `textContent`, never `innerHTML`. `textContent` cannot create elements,
// so `<img src=x onerror=...>` in a message stays those characters.

'use strict';

// `readyState` is a number; these are the names the standard gives them,
// in order, so STATE_NAMES[ws.readyState] is the name.
const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];

// Images are shown inline only for these types. A type comes from another
// member and is just a claim; an SVG, say, is a document that can carry
// script. Anything else is offered as a download instead.
const INLINE_IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

// Reconnecting: wait 0.5 s, then 1, 2, 4 ... up to 30 s, each with random
// "jitter", so that a thousand pages dropped by one server restart do not
// all come back in the same millisecond.
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 30_000;

// The page keeps this many entries; older ones are removed (and their
// images' memory released).
const MAX_ITEMS = 500;

const $ = (selector) => document.querySelector(selector);
const ui = {
  state: $('#state'),
  notice: $('#notice'),
  messages: $('#messages'),
  members: $('#members'),
  count: $('#count'),
  composer: $('#composer'),
  input: $('#input'),
  send: $('#send'),
  file: $('#file'),
  renameForm: $('#rename-form'),
  name: $('#name'),
  rename: $('#rename'),
};

let socket = null;       // the current WebSocket
let me = null;           // our name, as the server decided it
let members = [];        // names, in order of arrival
let limits = { text: 65536, file: 8 * 1024 * 1024 }; // replaced by `welcome`
let lastSeq = 0;         // the newest room event shown, to skip repeats
let pendingFile = null;  // a `file` event whose bytes are the next binary frame
let attempt = 0;         // connection attempts since the last `welcome`
let retryTimer = null;

// The name to ask for: from this page's own URL (`/?name=ann`), or the one
// this tab had before a reload. Otherwise the server picks `guest-N`.
let wantedName = new URLSearchParams(location.search).get('name') ?? recall();

// ---------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------

function connect() {
  retryTimer = null;
  // Same host and port as the page; `wss:` when the page came over https,
  // since a secure page may not open an insecure socket ("mixed content").
  const url = new URL('/chat', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (wantedName) url.searchParams.set('name', wantedName);

  // The constructor returns at once, in state CONNECTING; the handshake
  // (an HTTP request with `Upgrade: websocket`) happens in the background.
  // A malformed URL throws here; a refused connection is reported later,
  // through onerror and onclose.
  const ws = new WebSocket(url);
  socket = ws;

  // Binary messages arrive as a Blob by default: bytes the browser may
  // keep on disk, ideal for an image we only hand to an <img>. "arraybuffer"
  // would give bytes in memory, for code that reads them.
  ws.binaryType = 'blob';

  ws.onopen = () => {
    if (ws !== socket) return; // an old socket's late event: ignore it
    showState();
    say('');
  };

  // One call per whole message. `event.data` is a string for a text frame
  // and, given binaryType "blob", a Blob for a binary one.
  ws.onmessage = (event) => {
    if (ws !== socket) return;
    if (typeof event.data === 'string') {
      let parsed;
      try {
        parsed = JSON.parse(event.data);
      } catch (error) {
        addNotice(`The server sent something that is not JSON: ${error.message}`, 'error');
        return;
      }
      handleEvent(parsed);
    } else {
      handleFileBytes(event.data);
    }
  };

  // onerror carries no details, on purpose: a page must not be able to
  // probe which hosts and ports exist by watching connection errors. The
  // close event that always follows is where the information is.
  ws.onerror = () => {
    if (ws !== socket) return;
    showState();
  };

  // The end of every connection, whoever ended it and however:
  //   code      1000 normal, 1001 going away, 1008 policy (here: "too slow"),
  //             1009 too big, 1006 "abnormal": no close frame at all (the
  //             network failed, or the server vanished). 1006 is never sent;
  //             the browser reports it.
  //   reason    the text from the close frame (at most 123 bytes of UTF-8)
  //   wasClean  true when both close frames were exchanged
  ws.onclose = (event) => {
    if (ws !== socket) return;
    showState();
    const why = event.reason ? `: ${event.reason}` : '';
    const how = event.wasClean ? 'closed' : 'lost';
    members = [];
    renderMembers();
    pendingFile = null;
    scheduleReconnect(`Connection ${how} (${event.code}${why}).`);
  };

  showState();
}

function scheduleReconnect(what) {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt);
  const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
  attempt += 1;
  const seconds = (delay / 1000).toFixed(1);
  addNotice(`${what} Reconnecting in ${seconds} s (attempt ${attempt}).`, 'notice');
  say(`${what} Reconnecting in ${seconds} s…`, true);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
}

// The badge shows readyState's own name, whatever the reason it changed.
function showState() {
  const name = STATE_NAMES[socket ? socket.readyState : WebSocket.CLOSED];
  ui.state.textContent = name;
  ui.state.dataset.state = name;
  const open = socket && socket.readyState === WebSocket.OPEN;
  ui.send.disabled = !open;
  ui.rename.disabled = !open;
}

// ---------------------------------------------------------------------------
// Events from the server (docs/protocol.md)
// ---------------------------------------------------------------------------

function handleEvent(event) {
  // Room events carry `seq`: the server's count of room events. Seeing
  // each one once matters after a reconnect, when `welcome` repeats the
  // recent history.
  if (typeof event.seq === 'number' && event.type !== 'welcome') {
    lastSeq = Math.max(lastSeq, event.seq);
  }
  switch (event.type) {
    case 'welcome': return onWelcome(event);
    case 'message': return addMessage(event);
    case 'join':
      members.push(event.name);
      renderMembers();
      return addEvent(`${event.name} joined`);
    case 'leave':
      members = members.filter((name) => name !== event.name);
      renderMembers();
      return addEvent(event.reason && event.reason !== 'left'
        ? `${event.name} left (${event.reason})`
        : `${event.name} left`);
    case 'rename':
      members = members.map((name) => (name === event.from ? event.to : name));
      if (event.from === me) setMe(event.to);
      renderMembers();
      return addEvent(`${event.from} is now ${event.to}`);
    case 'file':
      // The very next frame is this file's bytes; the server guarantees
      // that nothing comes between the two.
      pendingFile = event;
      return;
    case 'error':
      return addNotice(event.reason, 'error');
    default:
      // An event this page does not know: a newer server. Ignore it, so
      // the protocol can grow without breaking old pages.
      return;
  }
}

function onWelcome(event) {
  attempt = 0; // the connection really works: the next drop starts over
  if (event.seq < lastSeq) {
    // Sequence numbers went backwards: a new server process. Everything
    // it has is new to us.
    addNotice('The server restarted.', 'notice');
    lastSeq = 0;
  }
  for (const message of event.history) {
    if (message.seq > lastSeq) addMessage(message);
  }
  lastSeq = Math.max(lastSeq, event.seq);
  limits = event.limits ?? limits;
  members = [...event.members];
  setMe(event.you);
  renderMembers();
  addEvent(`You joined ${event.room} as ${event.you}`);
  say(`Connected as ${event.you}.`);
}

function setMe(name) {
  me = name;
  wantedName = name; // so a reconnect asks for the same name
  remember(name);
  if (document.activeElement !== ui.name) ui.name.value = name;
}

// sessionStorage is per tab and survives a reload. Storage can be switched
// off, and then it throws; a name is not worth failing for.
function remember(name) {
  try { sessionStorage.setItem('duplex-name', name); } catch { /* not kept */ }
}

function recall() {
  try { return sessionStorage.getItem('duplex-name'); } catch { return null; }
}

// ---------------------------------------------------------------------------
// Files: `file` event, then a binary frame
// ---------------------------------------------------------------------------

function handleFileBytes(blob) {
  const info = pendingFile;
  pendingFile = null;
  if (!info) return; // bytes nobody announced: not for us to guess at
  const item = fileItem(info.from, info.from === me);
  showFile(item, blob, info.mime, info.name, info.size);
}

function fileItem(from, mine) {
  const li = document.createElement('li');
  li.className = mine ? 'file mine' : 'file';
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = from;
  li.append(who);
  return li;
}

function showFile(li, blob, mime, name, size) {
  // Give the bytes the announced type only if it is one we display;
  // anything else becomes an opaque download, never a page of our origin.
  const inline = INLINE_IMAGE_TYPES.has(mime);
  const typed = new Blob([blob], { type: inline ? mime : 'application/octet-stream' });
  // An object URL (blob:...) names bytes held by this page; it must be
  // revoked to free them (see trimItems).
  const url = URL.createObjectURL(typed);
  li.dataset.objectUrl = url;
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = `${name ?? 'a file'} (${formatBytes(size)})`;
  li.append(label);
  if (inline) {
    const img = document.createElement('img');
    img.alt = name ?? 'image';
    li.append(img);
    const following = append(li);
    // The image gets its height only once decoded; keep following if we were.
    img.onload = () => { if (following) scrollToEnd(); };
    img.src = url;
  } else {
    const link = document.createElement('a');
    link.href = url;
    link.download = name ?? 'file';
    link.textContent = ' download';
    li.append(link);
    append(li);
  }
}

function sendFile(file) {
  if (!isOpen()) return say('Not connected: the image was not sent.', true);
  if (file.size > limits.file) {
    return say(`That file is ${formatBytes(file.size)}; the limit is ${formatBytes(limits.file)}.`, true);
  }
  // `/file TYPE NAME` first, so the server can tell the others what the
  // next binary frame is. A type with odd characters is sent as unknown.
  const type = /^[\w.+-]+\/[\w.+-]+$/.test(file.type) ? file.type : 'application/octet-stream';
  const name = file.name.replace(/[\u0000-\u001f\u007f]/g, '');
  socket.send(`/file ${type} ${name}`);
  // A Blob (a File is one) goes out as one binary message. `send` returns
  // at once: the bytes are queued, and `bufferedAmount` counts them down
  // as the browser hands them to the network.
  socket.send(file);
  // The server does not echo files back, so show ours from the local copy.
  const item = fileItem(me ?? 'me', true);
  showFile(item, file, type, name, file.size);
  watchUpload(item);
}

// `bufferedAmount` is the only upload progress a WebSocket offers. It is
// polled: no event fires when it changes.
function watchUpload(item) {
  const status = document.createElement('span');
  status.className = 'status';
  item.querySelector('.name').after(status);
  const tick = () => {
    const queued = socket ? socket.bufferedAmount : 0;
    if (queued > 0 && socket.readyState === WebSocket.OPEN) {
      status.textContent = `sending, ${formatBytes(queued)} to go`;
      setTimeout(tick, 200);
    } else {
      status.textContent = socket && socket.readyState === WebSocket.OPEN ? 'sent' : 'not sent';
    }
  };
  tick();
}

// ---------------------------------------------------------------------------
// Sending text
// ---------------------------------------------------------------------------

function isOpen() {
  return socket !== null && socket.readyState === WebSocket.OPEN;
}

function sendText(text) {
  // Calling send() in CONNECTING throws; in CLOSING or CLOSED the data is
  // silently dropped. So check first, and keep the text if it cannot go.
  if (!isOpen()) {
    say('Not connected yet: your message is still in the box.', true);
    return false;
  }
  const bytes = new TextEncoder().encode(text).length; // the limit is in UTF-8 bytes
  if (bytes > limits.text) {
    say(`That message is ${formatBytes(bytes)}; the limit is ${formatBytes(limits.text)}.`, true);
    return false;
  }
  socket.send(text);
  return true;
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault(); // Enter in the box submits the form; stay on the page
  const text = ui.input.value;
  if (text.trim() === '') return;
  if (sendText(text)) ui.input.value = '';
  ui.input.focus();
});

ui.renameForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = ui.name.value.trim();
  if (name === '' || name === me) return;
  sendText(`/nick ${name}`);
});

ui.file.addEventListener('change', () => {
  const [file] = ui.file.files;
  ui.file.value = ''; // so choosing the same file again fires `change`
  if (file) sendFile(file);
});

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

function addMessage(event) {
  const li = document.createElement('li');
  li.className = event.from === me ? 'message mine' : 'message';
  const time = document.createElement('time');
  time.className = 'time';
  const when = new Date(event.time); // the server's clock, the same for everyone
  if (!Number.isNaN(when.getTime())) {
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = event.from;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = event.text; // textContent: the text stays text
  li.append(time, from, text);
  append(li);
}

function addEvent(text) {
  addNotice(text, '');
}

// `kind`: '' for joins and leaves, 'error', or 'notice' (connection news).
function addNotice(text, kind) {
  const li = document.createElement('li');
  li.className = kind ? `event ${kind}` : 'event';
  li.textContent = text;
  append(li);
}

// Appends an entry. Returns whether the view follows new entries: only if
// the reader is already at the bottom; someone who scrolled up to read
// should not be yanked down.
function append(li) {
  const scroller = ui.messages.parentElement;
  const following = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  ui.messages.append(li);
  trimItems();
  if (following) scrollToEnd();
  return following;
}

function scrollToEnd() {
  const scroller = ui.messages.parentElement;
  scroller.scrollTop = scroller.scrollHeight;
}

function trimItems() {
  while (ui.messages.children.length > MAX_ITEMS) {
    const oldest = ui.messages.firstElementChild;
    if (oldest.dataset.objectUrl) URL.revokeObjectURL(oldest.dataset.objectUrl);
    oldest.remove();
  }
}

function renderMembers() {
  const items = members.map((name) => {
    const li = document.createElement('li');
    li.textContent = name;
    if (name === me) li.className = 'me';
    return li;
  });
  ui.members.replaceChildren(...items);
  ui.count.textContent = members.length ? `(${members.length})` : '';
}

// The status line under the header.
function say(text, problem = false) {
  ui.notice.textContent = text;
  ui.notice.classList.toggle('problem', problem);
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

connect();
