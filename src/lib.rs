//! # duplex: a WebSocket server from first principles
//!
//! duplex is a small, complete WebSocket server written to be read. It
//! serves static files over HTTP/1.1, upgrades connections to WebSocket
//! (RFC 6455), and runs a chat room that pushes every message to everyone.
//! It uses the standard library and two tiny crates (`sha1_smol`, `base64`)
//! for the handshake's hash and encoding; everything else is here.
//!
//! ## Two builds
//!
//! `cargo build --no-default-features` builds the minimal server, the
//! textbook: static files, `/echo`, and the whole chat room at `/chat`.
//! Start there. The default build adds two layers, each a Cargo feature
//! in a folder of its own: `push` (the chat room over plain HTTP) and
//! `redis` (one room across processes). A feature left out leaves no flag
//! in `--help` and no endpoint.
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
//!    [`websocket::message`], [`websocket::input`], [`websocket::connection`]
//!    (RFC 6455).
//! 4. [`echo`]: the smallest endpoint.
//! 5. [`json`]: JSON written (and read back) by hand.
//! 6. [`chat`]: the chat room: fan-out to many members, and what to do
//!    about the one who stops reading.
//! 7. [`server`]: sockets, threads and timeouts: where the protocol meets
//!    the operating system.
//! 8. `client` (feature `client`): the other end of the handshake, with
//!    masking done right.
//!
//! Then the layers: `push` and `redis` plug into the room's seam
//! (`src/chat/room.rs`), `deflate` into the WebSocket's
//! (`src/websocket/extension.rs`):
//!
//! - `push` (feature `push`): the same room over plain HTTP: short
//!   polling, long polling, Server-Sent Events; chapter 1 of the course
//!   compares them with WebSocket.
//! - `redis` (feature `redis`): RESP2 by hand, a Redis client; then
//!   `redis::bus`, which shares the chat room through it (`--redis`):
//!   one order for every process, and what happens when Redis goes away.
//! - `deflate` (feature `deflate`): DEFLATE by hand (RFC 1951), LZ77 and
//!   Huffman coding, the codec under permessage-deflate.
//!
//! The protocol modules (`http`, `websocket`, `json`) never touch a socket.
//! They work on `Read`, `Write` and byte slices, so each can be lifted into
//! other code and tested on plain bytes. Modules only import downwards, and
//! no two import each other: `config` and `log` at the bottom; `http`, then
//! `websocket`, `json`; `echo`, `chat` and `client` on top of those;
//! `push` and `redis` on top of `chat`; `server` on top of everything it
//! serves. `tests/imports.rs` checks it.
//!
//! The course that goes with the code is in `docs/`. Everything here is
//! safe Rust; `Cargo.toml`'s `[lints.rust]` table makes that a rule.

pub mod log;
pub mod threads;

pub mod chat;
#[cfg(feature = "client")]
pub mod client;
pub mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod echo;
pub mod http;
pub mod json;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "redis")]
pub mod redis;
pub mod server;
pub mod websocket;
