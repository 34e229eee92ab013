//! # `duplex`: the command line
//!
//! Flags become a [`Config`]; the config becomes a running server. That is
//! all this file does. Start reading the code in `src/lib.rs`.

use std::process::ExitCode;

use duplex::config::{usage, Action, Config};
use duplex::server::RunError;

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
    if let Some(Err(error)) =
        config.redis.as_deref().map(duplex::redis::RedisAddress::parse_with_env)
    {
        eprintln!("duplex: --redis: {error}\n\n{}", usage());
        return ExitCode::from(2);
    }
    let addr = config.addr;
    match duplex::server::run(*config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Io(error)) => {
            eprintln!("duplex: cannot serve on {addr}: {error}");
            ExitCode::FAILURE
        }
        // Its own status, so a script (or a supervisor deciding whether to
        // restart) can tell "Redis is down" from "the port is taken".
        #[cfg(feature = "redis")]
        Err(RunError::Redis(error)) => {
            eprintln!("duplex: {error}");
            ExitCode::from(EXIT_REDIS_UNREACHABLE)
        }
    }
}
