//! # `duplex`: the command line
//!
//! Flags become a [`Config`]; the config becomes a running server. That is
//! all this file does. Start reading the code in `src/lib.rs`.

use std::process::ExitCode;

use duplex::config::{Command, Config, USAGE};

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
        Err(error) => {
            eprintln!("duplex: cannot serve on {addr}: {error}");
            ExitCode::FAILURE
        }
    }
}
