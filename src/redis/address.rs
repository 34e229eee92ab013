//! # Where Redis is, and the password to get in
//!
//! `--redis` takes one of two forms:
//!
//! ```text
//! 127.0.0.1:6390                     HOST:PORT, no password
//! redis://127.0.0.1:6390             the same, as a URL
//! redis://:s3cret@127.0.0.1:6390     a URL with a password (empty user name)
//! ```
//!
//! and the password may instead come from the environment variable
//! [`PASSWORD_ENV_VAR`] (`DUPLEX_REDIS_PASSWORD`). Prefer the variable: a
//! command line is public on the machine (`ps`, `/proc/PID/cmdline`, shell
//! history), an environment is readable only by the process's own user.
//!
//! [`RedisAddress::parse`] is the whole grammar, and it is strict, because
//! a configuration mistake should stop the program at start with a clear
//! message rather than turn into a puzzling failure at the first message:
//!
//! - The port is required; a default port is a guess, and guessing 6379
//!   could connect a test to somebody's real Redis.
//! - A user name (`redis://alice:pw@...`, Redis 6 ACLs) is refused: we send
//!   the one-argument `AUTH password`, which logs in as the `default` user.
//! - A database number (`redis://host:6379/2`) is refused. `SELECT` would
//!   not do what it seems to: pub/sub channels ignore database numbers, so
//!   processes on "different" databases would still hear each other.
//! - `rediss://` (TLS) is refused: TLS is not in the standard library.
//! - In the URL, a password holding `@ : / % ?` or a space must be
//!   percent-encoded (`p%40ss` for `p@ss`). The environment variable takes
//!   the password verbatim, with no encoding.
//! - The password given in both places is an error, not a silent choice.
//!
//! The password must never reach a log. [`RedisAddress`]'s `Debug` and
//! `Display` print `***` in its place.
//!
//! Read next: `src/redis/wire.rs`, the socket every connection is built on.

use std::fmt;

use crate::http::percent::percent_decode;

/// The environment variable that may hold the Redis password.
pub const PASSWORD_ENV_VAR: &str = "DUPLEX_REDIS_PASSWORD";

/// A parsed `--redis` value.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisAddress {
    /// `HOST:PORT`, resolved when connecting (not when parsing), so a
    /// reconnect follows a DNS change.
    pub host_port: String,
    /// Sent with `AUTH` right after connecting, when present.
    pub password: Option<String>,
}

/// Why a `--redis` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// A scheme other than `redis://` (such as `rediss://` or `unix://`).
    UnsupportedScheme(String),
    /// `redis://user:password@...`: ACL user names are not supported.
    UserNameNotSupported,
    /// A path (`/2`), query or fragment after `HOST:PORT`.
    PathNotSupported(String),
    /// Not `HOST:PORT` with a non-empty host and a port from 1 to 65535.
    NotHostPort(String),
    /// `redis://:@host:port`: Redis has no empty passwords.
    EmptyPassword,
    /// A `%` not followed by two hex digits, or a password that decodes to
    /// something other than UTF-8.
    BadPercentEncoding,
    /// A password in the URL and in `DUPLEX_REDIS_PASSWORD`.
    PasswordGivenTwice,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::UnsupportedScheme(scheme) => {
                write!(f, "--redis: scheme {scheme:?} is not supported; use HOST:PORT or redis://")
            }
            AddressError::UserNameNotSupported => f.write_str(
                "--redis: user names are not supported; use redis://:PASSWORD@HOST:PORT",
            ),
            AddressError::PathNotSupported(path) => write!(
                f,
                "--redis: {path:?} after HOST:PORT is not supported (pub/sub ignores database numbers)"
            ),
            AddressError::NotHostPort(text) => write!(f, "--redis: {text:?} is not HOST:PORT"),
            AddressError::EmptyPassword => f.write_str("--redis: the password is empty"),
            AddressError::BadPercentEncoding => {
                f.write_str("--redis: the password's percent-encoding is malformed")
            }
            AddressError::PasswordGivenTwice => write!(
                f,
                "--redis: a password is given both in the URL and in {PASSWORD_ENV_VAR}; give it once"
            ),
        }
    }
}

impl std::error::Error for AddressError {}

impl RedisAddress {
    /// Parses a `--redis` value. `password_from_env` is the value of
    /// [`PASSWORD_ENV_VAR`], if set (an empty value counts as unset); it is
    /// passed in rather than read here so that tests need not change the
    /// process's environment, which other threads may be reading.
    pub fn parse(text: &str, password_from_env: Option<&str>) -> Result<Self, AddressError> {
        let (authority, is_url) = match text.split_once("://") {
            Some(("redis", rest)) => (rest, true),
            Some((scheme, _)) => return Err(AddressError::UnsupportedScheme(scheme.to_string())),
            None => (text, false),
        };
        // In a URL the authority ends at the first `/`, `?` or `#`; only a
        // bare `/` may follow it.
        let (authority, after) = match authority.find(['/', '?', '#']) {
            Some(at) if is_url => authority.split_at(at),
            _ => (authority, ""),
        };
        if !after.is_empty() && after != "/" {
            return Err(AddressError::PathNotSupported(after.to_string()));
        }
        // The *last* `@` ends the user information: an unencoded `@` in a
        // password then still works, since host names never contain one.
        let (password_in_url, host_port) = match authority.rsplit_once('@') {
            Some((user_info, host_port)) if is_url => {
                let Some(encoded) = user_info.strip_prefix(':') else {
                    return Err(AddressError::UserNameNotSupported);
                };
                (Some(decode_password(encoded)?), host_port)
            }
            _ => (None, authority),
        };
        check_host_port(host_port)?;

        let password_from_env = password_from_env.filter(|p| !p.is_empty());
        let password = match (password_in_url, password_from_env) {
            (Some(_), Some(_)) => return Err(AddressError::PasswordGivenTwice),
            (Some(password), None) if password.is_empty() => {
                return Err(AddressError::EmptyPassword)
            }
            (Some(password), None) => Some(password),
            (None, from_env) => from_env.map(str::to_string),
        };
        Ok(RedisAddress { host_port: host_port.to_string(), password })
    }

    /// [`RedisAddress::parse`] with the password variable read from this
    /// process's environment: what `main` calls.
    pub fn parse_with_env(text: &str) -> Result<Self, AddressError> {
        let from_env = std::env::var(PASSWORD_ENV_VAR).ok();
        RedisAddress::parse(text, from_env.as_deref())
    }
}

/// `HOST:PORT`, with an IPv6 host in brackets (`[::1]:6390`).
fn check_host_port(text: &str) -> Result<(), AddressError> {
    let refuse = || AddressError::NotHostPort(text.to_string());
    let (host, port) = text.rsplit_once(':').ok_or_else(refuse)?;
    let host_ok =
        !host.is_empty() && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
    let port_ok =
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0);
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// Decodes the password's `%XX` escapes with the same function that
/// decodes URL paths (`src/http/percent.rs`); the result must be UTF-8.
fn decode_password(encoded: &str) -> Result<String, AddressError> {
    percent_decode(encoded, false)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(AddressError::BadPercentEncoding)
}

impl fmt::Display for RedisAddress {
    /// `redis://:***@HOST:PORT` with a password, `HOST:PORT` without:
    /// safe to print in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.password {
            Some(_) => write!(f, "redis://:***@{}", self.host_port),
            None => f.write_str(&self.host_port),
        }
    }
}

impl fmt::Debug for RedisAddress {
    // Written by hand: a derived `Debug` would print the password, and
    // `{:?}` of a config struct is exactly what ends up in a log or a panic.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAddress")
            .field("host_port", &self.host_port)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RedisAddress, AddressError> {
        RedisAddress::parse(text, None)
    }

    fn address(host_port: &str, password: Option<&str>) -> RedisAddress {
        RedisAddress { host_port: host_port.into(), password: password.map(str::to_string) }
    }

    #[test]
    fn the_accepted_forms() {
        assert_eq!(parse("127.0.0.1:6390"), Ok(address("127.0.0.1:6390", None)));
        assert_eq!(parse("localhost:6390"), Ok(address("localhost:6390", None)));
        assert_eq!(parse("[::1]:6390"), Ok(address("[::1]:6390", None)));
        assert_eq!(parse("redis://127.0.0.1:6390"), Ok(address("127.0.0.1:6390", None)));
        assert_eq!(parse("redis://127.0.0.1:6390/"), Ok(address("127.0.0.1:6390", None)));
        assert_eq!(parse("redis://:s3cret@h:1"), Ok(address("h:1", Some("s3cret"))));
        // Encoded, and the last `@` wins even unencoded.
        assert_eq!(parse("redis://:p%40ss%3Aw%20rd@h:1"), Ok(address("h:1", Some("p@ss:w rd"))));
        assert_eq!(parse("redis://:p@ss@h:1"), Ok(address("h:1", Some("p@ss"))));
    }

    #[test]
    fn the_password_from_the_environment() {
        let from_env = |text, env| RedisAddress::parse(text, Some(env));
        assert_eq!(from_env("h:1", "verbatim%40"), Ok(address("h:1", Some("verbatim%40"))));
        assert_eq!(from_env("redis://h:1", "x"), Ok(address("h:1", Some("x"))));
        assert_eq!(from_env("h:1", ""), Ok(address("h:1", None)));
        assert_eq!(from_env("redis://:a@h:1", "b"), Err(AddressError::PasswordGivenTwice));
    }

    #[test]
    fn the_refused_forms() {
        let refused = |text: &str| parse(text).expect_err(text);
        assert_eq!(refused("rediss://h:1"), AddressError::UnsupportedScheme("rediss".into()));
        assert_eq!(refused("redis://alice:pw@h:1"), AddressError::UserNameNotSupported);
        assert_eq!(refused("redis://h:1/2"), AddressError::PathNotSupported("/2".into()));
        assert_eq!(refused("redis://h:1?db=2"), AddressError::PathNotSupported("?db=2".into()));
        assert_eq!(refused("redis://:@h:1"), AddressError::EmptyPassword);
        assert_eq!(refused("redis://:%4@h:1"), AddressError::BadPercentEncoding);
        assert_eq!(refused("redis://:%zz@h:1"), AddressError::BadPercentEncoding);
        assert_eq!(refused("redis://:%ff@h:1"), AddressError::BadPercentEncoding);
        for text in ["h", "h:", ":1", "h:0", "h:65536", "h:+1", "::1:6390", "redis://", ":pw@h:1"] {
            assert!(matches!(refused(text), AddressError::NotHostPort(_)), "{text}");
        }
    }

    #[test]
    fn the_password_never_prints() {
        let with_password = parse("redis://:hunter2@h:1").unwrap();
        assert_eq!(with_password.to_string(), "redis://:***@h:1");
        assert!(!format!("{with_password:?}").contains("hunter2"));
        assert_eq!(parse("h:1").unwrap().to_string(), "h:1");
    }
}
