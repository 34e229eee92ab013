//! # `duplex-bench`: measuring a blocking server against the machine
//!
//! The usual lore says a thread per connection cannot be fast. This program
//! is how duplex answers with numbers instead of lore. It drives a real
//! `duplex` process over loopback with [`duplex::client::Client`] and plain
//! std threads, and runs the *same* work through a plain TCP echo server
//! (the "yardstick", in `yardstick.rs`) so that every WebSocket figure also
//! reads as a fraction of what the kernel's TCP can do on this machine, in
//! the same run. What the WebSocket costs on top of TCP is then visible:
//! framing, masking, UTF-8 checks, copies, and extra thread wake-ups.
//!
//! Scenarios, one module each:
//! - `rtt` (`rtt.rs`): C clients, each one message in flight;
//! - `pipeline` (`pipeline.rs`): one connection, W messages in flight;
//! - `fanout` (`fanout.rs`): one sender, R chat members;
//! - `hold` (`hold.rs`): K idle connections, the server's memory and threads;
//! - `tcp`: `rtt` and `pipeline` through the yardstick alone.
//!
//! And the parts they share: `target.rs` starts and watches the servers,
//! `procfs.rs` reads what they cost from `/proc`, `stats.rs` and
//! `report.rs` turn runs into medians and `RESULT` lines, and `mux.rs`
//! with `sweeper.rs` hold thousands of connections on a few threads where
//! a thread per connection would cost more than the server being measured.
//!
//! Every run is bounded twice: by a count (messages, connections) and by a
//! time limit (`--time`), after which it stops and reports what it has.
//! Every scenario ends with one machine-readable line,
//! `RESULT scenario=... key=value ...`, for scripts; the lines before it
//! are for people. The method and the figures are in `docs/performance.md`.

mod fanout;
mod hold;
mod mux;
mod options;
mod pipeline;
mod procfs;
mod report;
mod rtt;
mod stats;
mod sweeper;
mod target;
mod wire;
mod yardstick;

use std::process::ExitCode;

use options::{Options, Scenario, USAGE};

fn main() -> ExitCode {
    let options = match Options::from_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("duplex-bench: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match options.scenario {
        Scenario::Rtt => rtt::run(&options, true, !options.no_yardstick),
        Scenario::Pipeline => pipeline::run(&options, true, !options.no_yardstick),
        Scenario::Tcp => {
            rtt::run(&options, false, true).and_then(|()| pipeline::run(&options, false, true))
        }
        Scenario::Fanout => fanout::run(&options),
        Scenario::Hold => hold::run(&options),
        Scenario::TcpEchoServer => yardstick::serve(&options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("duplex-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
