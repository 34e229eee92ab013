// A yardstick for `duplex-bench fanout`: a chat room written the way a
// Node programmer would write one, on `ws` 8, speaking enough of duplex's
// /chat protocol (docs/protocol.md) to be measured the same way:
//
//   - `/chat?name=NAME`; names are trimmed, at most 32 characters, made
//     unique with a suffix (`ann-2`), `guest-N` when absent or refused;
//   - the first frame is `welcome` (room, you, seq, members, history,
//     limits); the others get `join`; everyone gets every `message`,
//     the sender included, and a `leave` (`left` or `connection lost`);
//   - empty texts and texts over 64 KiB get an `error` event.
//
// Left out, because the fan-out does not use them: `/nick`, files (binary
// frames are ignored, `/file` gets an `error`), the HTTP push and Redis
// layers, origin checks, idle timeouts.
//
// Like duplex, each event is encoded once and the same string goes to
// every member; and a member that falls more than 1 MiB behind (its
// outbox, here `ws`'s `bufferedAmount`) is dropped as `too slow` instead
// of buffering without bound. One thread, one event loop: a broadcast is
// a loop of `send` calls, and nobody is woken but the kernel's sockets.
//
// Prints `listening on ws://ADDR`, serves until killed. `npm install` here
// first.
import { WebSocketServer } from 'ws';

const TEXT_LIMIT = 64 * 1024;
const FILE_LIMIT = 8 * 1024 * 1024;
const OUTBOX_LIMIT = 1024 * 1024;
const HISTORY = 100;
const NAME_LIMIT = 32;

const members = new Map(); // socket -> name, in order of arrival
const history = [];
let seq = 0;
let guests = 0;

function stamp(type) {
  seq += 1;
  return { type, seq, time: Date.now() };
}

function send(socket, json) {
  if (socket.bufferedAmount > OUTBOX_LIMIT) {
    socket.slow = true;
    socket.terminate();
    return;
  }
  socket.send(json);
}

function broadcast(event, except) {
  const json = JSON.stringify(event);
  for (const socket of members.keys()) {
    if (socket !== except) send(socket, json);
  }
}

function unique(wanted) {
  const taken = new Set(members.values());
  if (!taken.has(wanted)) return wanted;
  for (let n = 2; ; n += 1) {
    const suffix = `-${n}`;
    const name = [...wanted].slice(0, NAME_LIMIT - suffix.length).join('') + suffix;
    if (!taken.has(name)) return name;
  }
}

function requestedName(url) {
  const wanted = new URL(url, 'http://localhost').searchParams.get('name');
  if (wanted === null) return { name: null };
  const name = wanted.trim();
  const length = [...name].length;
  if (length < 1 || length > NAME_LIMIT || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    return { name: null, refused: `name refused: a name has 1 to ${NAME_LIMIT} characters` };
  }
  return { name };
}

function join(socket, request) {
  const { name: wanted, refused } = requestedName(request.url);
  const name = unique(wanted ?? `guest-${(guests += 1)}`);
  broadcast({ ...stamp('join'), name });
  members.set(socket, name);
  const welcome = {
    type: 'welcome', room: 'main', you: name, seq,
    members: [...members.values()], history,
    limits: { text: TEXT_LIMIT, file: FILE_LIMIT },
  };
  socket.send(JSON.stringify(welcome));
  if (refused) socket.send(JSON.stringify({ type: 'error', message: `${refused}; you are ${name}` }));
}

function say(socket, data, isBinary) {
  if (isBinary) return; // files are not relayed here
  const error = (message) => socket.send(JSON.stringify({ type: 'error', message }));
  if (data.length > TEXT_LIMIT) return error(`a message has at most ${TEXT_LIMIT} bytes`);
  const text = data.toString();
  if (text === '') return error('an empty message is not sent');
  if (text === '/nick' || text.startsWith('/nick ') || text === '/file' || text.startsWith('/file ')) {
    return error('this yardstick does not do /nick or /file');
  }
  const event = { ...stamp('message'), from: members.get(socket), text };
  history.push(event);
  if (history.length > HISTORY) history.shift();
  broadcast(event);
}

function leave(socket, code) {
  const name = members.get(socket);
  if (name === undefined) return;
  members.delete(socket);
  const reason = socket.slow ? 'too slow' : code === 1006 ? 'connection lost' : 'left';
  broadcast({ ...stamp('leave'), name, reason });
}

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  path: '/chat',
  maxPayload: FILE_LIMIT,
  perMessageDeflate: false,
});
server.on('listening', () => {
  const { address, port } = server.address();
  process.stdout.write(`listening on ws://${address}:${port}\n`);
});
server.on('connection', (socket, request) => {
  join(socket, request);
  socket.on('message', (data, isBinary) => say(socket, data, isBinary));
  socket.on('close', (code) => leave(socket, code));
  socket.on('error', () => {});
});
