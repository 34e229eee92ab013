//! # Logging: one line per event that matters
//!
//! Logs go to standard error, so that standard output carries only the
//! `listening on ...` line that scripts and tests read. Each line starts
//! with the UTC time and the thread's name; connection threads are named
//! `conn-N`, so every line about a connection carries its number without
//! the caller passing it around.
//!
//! Events, not frames: a connection opened, a connection closed and why, a
//! request refused and why. Per-frame output is the tracer's job
//! (`--trace`).
//!
//! Read next: `src/config.rs`, the first chapter proper.

use std::time::{SystemTime, UNIX_EPOCH};

/// Writes one log line to standard error. Use through [`log!`](crate::log!).
pub fn write_line(args: std::fmt::Arguments<'_>) {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds_today = since_epoch.as_secs() % 86_400;
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("main");
    eprintln!(
        "{:02}:{:02}:{:02}.{:03} [{name}] {args}",
        seconds_today / 3600,
        seconds_today / 60 % 60,
        seconds_today % 60,
        since_epoch.subsec_millis()
    );
}

/// `log!("closed: {reason}")` prints a timestamped line on standard error.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::write_line(format_args!($($arg)*))
    };
}
