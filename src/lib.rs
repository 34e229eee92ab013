//! # duplex: a WebSocket server from first principles
//!
//! duplex is a small, complete WebSocket server written to be read. It
//! serves static files over HTTP/1.1, upgrades connections to WebSocket
//! (RFC 6455), and runs a chat room that pushes every message to everyone.
//! It uses the standard library and two tiny crates (`sha1_smol`, `base64`)
//! for the handshake's hash and encoding; everything else is here.
//!
//! ## Reading order
//!
//! Each module is a chapter. Read them in this order:
//!
//! 0. [`log`](mod@log) and [`threads`]: one log line per event, and the thread
//!    budget that keeps thread-per-connection inside the machine's limits.
//! 1. [`config`]: every limit in one place, and why it has its value.
//! 2. [`http`]: HTTP/1.1 requests and responses, and the static file
//!    server (RFC 9110, RFC 9112).
//! 3. [`websocket`]: the protocol itself: [`websocket::handshake`],
//!    [`websocket::frame`], [`websocket::close`], [`websocket::utf8`],
//!    [`websocket::message`], [`websocket::connection`] (RFC 6455).
//! 4. [`echo`]: the smallest endpoint.
//! 5. [`chat`]: the chat room: fan-out to many members, and what to do
//!    about the one who stops reading; then the same room over plain HTTP
//!    (short polling, long polling, Server-Sent Events), to compare.
//! 6. [`server`]: sockets, threads and timeouts: where the protocol meets
//!    the operating system.
//! 7. [`client`]: the other end of the handshake, with masking done right.
//! 8. [`redis`]: RESP2 by hand: a Redis client, so rooms can span
//!    processes; then [`chat::bus`], which shares the chat room through it
//!    (`--redis`): one order for every process, and what happens when
//!    Redis goes away.
//! 9. [`deflate`] (Cargo feature `deflate`): DEFLATE by hand (RFC 1951),
//!    LZ77 and Huffman coding, the codec under permessage-deflate.
//!
//! The protocol modules (`http`, `websocket`) never touch a socket. They
//! work on `Read`, `Write` and byte slices, so each can be lifted into
//! other code and tested on plain bytes. Layers only import downwards:
//! `server` uses `chat` and `echo`, which use `websocket`, which uses
//! `http`, which uses `config`; `chat` also uses `redis`, which uses
//! `http` and `config`. (One exception: `config` holds a parsed `--redis`
//! address, a type from `redis`.)
//!
//! The course that goes with the code is in `docs/`. Everything here is
//! safe Rust; `Cargo.toml`'s `[lints.rust]` table makes that a rule.

pub mod log;
pub mod threads;

pub mod chat;
pub mod client;
pub mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod echo;
pub mod http;
pub mod redis;
pub mod server;
pub mod websocket;
