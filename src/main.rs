//! # `duplex`: the command line
//!
//! Flags become a [`Config`]; the config becomes a running server. That is
//! all this file does. Start reading the code in `src/lib.rs`.

use std::process::ExitCode;

use duplex::config::{Command, Config, USAGE};
use duplex::server::RunError;

/// Exit statuses: 0 never (a server runs until killed), 1 when it cannot
/// listen, 2 for a command line it cannot understand, and this one when
/// `--redis` was given and that Redis cannot be reached at start.
const EXIT_REDIS_UNREACHABLE: u8 = 3;

fn main() -> ExitCode {
    let command = match Config::from_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("duplex: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match command {
        Command::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Run(config) => config,
    };
    let addr = config.addr;
    match duplex::server::run(*config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Io(error)) => {
            eprintln!("duplex: cannot serve on {addr}: {error}");
            ExitCode::FAILURE
        }
        // Its own status, so a script (or a supervisor deciding whether to
        // restart) can tell "Redis is down" from "the port is taken".
        Err(RunError::Redis(error)) => {
            eprintln!("duplex: {error}");
            ExitCode::from(EXIT_REDIS_UNREACHABLE)
        }
    }
}
