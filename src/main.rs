//! # `duplex`: the command line
//!
//! Flags become a [`Config`]; the config becomes a running server, whose
//! room, with `--redis`, is shared through Redis before it serves. That is
//! all this file does. Start reading the code in `src/lib.rs`.

use std::process::ExitCode;

use duplex::config::{usage, Action, Config};
#[cfg(feature = "redis")]
use duplex::redis::{bus, RedisAddress};
use duplex::server::Server;

/// Exit statuses: 0 never (a server runs until killed), 1 when it cannot
/// listen, 2 for a command line it cannot understand, and this one when
/// `--redis` was given and that Redis cannot be reached at start.
#[cfg(feature = "redis")]
const EXIT_REDIS_UNREACHABLE: u8 = 3;

fn main() -> ExitCode {
    let command = match Config::from_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("duplex: {error}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let config = match command {
        Action::Help => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Action::Run(config) => config,
    };
    // `--redis`'s value is the Redis layer's to read; a bad one is a
    // command line we cannot understand, like any other.
    #[cfg(feature = "redis")]
    let redis = match config.redis.as_deref().map(RedisAddress::parse_with_env).transpose() {
        Ok(redis) => redis,
        Err(error) => {
            eprintln!("duplex: --redis: {error}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let addr = config.addr;
    let cannot_serve = |error| {
        eprintln!("duplex: cannot serve on {addr}: {error}");
        ExitCode::FAILURE
    };
    let server = match Server::bind(*config) {
        Ok(server) => server,
        Err(error) => return cannot_serve(error),
    };
    // With `--redis`, the room is shared before the first member can
    // arrive, and a Redis that cannot be reached stops the server at once,
    // with its own status: a script (or a supervisor deciding whether to
    // restart) can tell "Redis is down" from "the port is taken".
    #[cfg(feature = "redis")]
    if let Some(address) = redis {
        let shared = &server.shared;
        if let Err(error) = bus::start(&shared.chat, address, &shared.config.limits) {
            eprintln!("duplex: {error}");
            return ExitCode::from(EXIT_REDIS_UNREACHABLE);
        }
    }
    match server.serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => cannot_serve(error),
    }
}
