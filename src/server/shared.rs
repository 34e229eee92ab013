//! # What every connection thread shares
//!
//! One value, made once by `Server::bind` (`mod.rs`) and handed to every
//! connection's thread behind an `Arc`: the configuration, the upgrade
//! policy, the count of open connections, and the chat room, with the
//! layers plugged into it that this build has.
//!
//! Read next: `src/server/session.rs`.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::chat::Room;
use crate::config::Config;
#[cfg(feature = "push")]
use crate::push::Feed;
use crate::websocket::handshake::Policy;

/// What every connection thread shares.
pub struct Shared {
    pub config: Config,
    /// What an upgrade to `/echo` may agree to: `Origin`, subprotocols,
    /// extensions. One policy per endpoint, because what one endpoint
    /// speaks is no promise for another (see [`Shared::policy_for`]).
    pub echo_policy: Policy,
    /// What an upgrade to `/chat` may agree to.
    pub chat_policy: Policy,
    /// Connections being served right now.
    pub(super) active: AtomicUsize,
    /// The chat room at `/chat` (see `src/chat/room.rs`). In an `Arc`,
    /// because the layers hold it too: the feed, and with `--redis` the
    /// bus threads (`src/redis/bus/`).
    pub chat: Arc<Room>,
    /// The same room over plain HTTP (`/api/...`, `src/push/`).
    #[cfg(feature = "push")]
    pub feed: Arc<Feed>,
}

impl Shared {
    /// The upgrade policy of the WebSocket endpoint at `path`: a
    /// subprotocol added for `/echo` must not be offered by `/chat`
    /// (RFC 6455 §4.2.2: the server answers with one it speaks *there*).
    pub fn policy_for(&self, path: &str) -> &Policy {
        match path {
            "/chat" => &self.chat_policy,
            _ => &self.echo_policy,
        }
    }
}
