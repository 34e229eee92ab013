//! # JSON, both directions
//!
//! The chat speaks JSON (RFC 8259): every event a member receives is one
//! JSON object. JSON is a codec like the others under `src/`: it knows no
//! sockets and no chat, and it sits below everything that uses it (the
//! room's events, the HTTP push layer's feeds, the Redis layer's
//! envelopes, the terminal client).
//!
//! - [`write`](mod@write): JSON written by hand, with the escaping that keeps a
//!   stranger's text inside its string. The server only ever writes.
//! - `read`: the same JSON read back, strictly, with a bound on nesting:
//!   for clients, tests and the envelopes other processes publish. The
//!   server alone never reads JSON, so `read` is built only with the
//!   `client` or `redis` layer (both on by default).
//!
//! Read next: `src/json/write.rs`.

#[cfg(any(feature = "client", feature = "redis"))]
pub mod read;
pub mod write;
