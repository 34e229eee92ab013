//! A small test runner for the suites that need a program Rust does not
//! bring: the Redis tests need a real `redis-server`.
//!
//! `cargo test` must pass on a machine that has only a Rust toolchain, and
//! a test that quietly passes without running proves nothing. Rust's own
//! harness has no "skipped" outcome that a test can choose at run time
//! (`#[ignore]` is decided when compiling), so these suites set
//! `harness = false` in `Cargo.toml` and run their tests here instead:
//!
//! - with `redis-server` on the `PATH`, every test runs, as usual;
//! - without it, the tests that need it are reported as `ignored`, each with
//!   the reason, and a banner at the end says how many, why, and how to run
//!   them; the tests that need no server still run;
//! - with `DUPLEX_REQUIRE_REDIS=1` (CI sets it), nothing is skipped: a
//!   missing `redis-server` fails the tests that need it.
//!
//! The output imitates Rust's harness (`test NAME ... ok`, then
//! `test result: ...`), so `cargo test` reads the same throughout. The
//! common command-line arguments work: name filters, `--exact`, `--skip`,
//! `--list`, `--test-threads`. Registration cannot forget a test: a test
//! function no list names is dead code, and clippy (`-D warnings`) fails.

use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

/// One test: its name and its body.
pub type Case = (&'static str, fn());

/// Builds a `&[Case]` from test function names.
#[macro_export]
macro_rules! cases {
    ($($test:ident),* $(,)?) => {
        &[$((stringify!($test), $test as fn())),*]
    };
}

/// A test suite: the tests that need a real `redis-server`, and the ones
/// that run anywhere.
pub struct Suite {
    pub name: &'static str,
    pub need_redis_server: &'static [Case],
    pub run_anywhere: &'static [Case],
}

/// Set to `1` to turn "redis-server is missing" from a skip into a failure.
pub const REQUIRE_REDIS: &str = "DUPLEX_REQUIRE_REDIS";

/// What the command line asked for, in the subset of Rust's harness
/// options that make sense here.
#[derive(Default)]
struct Options {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
    only_ignored: bool,
    threads: Option<usize>,
}

impl Options {
    fn from_args() -> Options {
        let mut options = Options::default();
        // `--skip NAME` and `--skip=NAME` are the same option.
        let mut args = std::env::args().skip(1).flat_map(|arg| match arg.split_once('=') {
            Some((option, value)) if option.starts_with("--") => {
                vec![option.to_string(), value.to_string()]
            }
            _ => vec![arg],
        });
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => options.exact = true,
                "--list" => options.list = true,
                "--ignored" => options.only_ignored = true,
                "--skip" => options.skip.extend(args.next()),
                "--test-threads" => options.threads = args.next().and_then(|n| n.parse().ok()),
                // Options that take a value we have no use for.
                "--format" | "--color" | "--logfile" | "-Z" | "--shuffle-seed" => {
                    args.next();
                }
                flag if flag.starts_with('-') => {} // --nocapture, -q, --include-ignored, ...
                filter => options.filters.push(filter.to_string()),
            }
        }
        options
    }

    fn selects(&self, name: &str) -> bool {
        let matches = |pattern: &String| match self.exact {
            true => name == pattern,
            false => name.contains(pattern.as_str()),
        };
        (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skip.iter().any(matches)
    }
}

/// Is `redis-server` on the `PATH`? Asked by running it, which is the
/// only way to be sure it runs.
fn redis_server_found() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs the suite as `main` would; the exit status is 101 if a test
/// failed, as with Rust's own harness.
pub fn run(suite: Suite) -> ExitCode {
    let options = Options::from_args();
    let skip_redis = !redis_server_found() && std::env::var(REQUIRE_REDIS).as_deref() != Ok("1");
    let all = suite.need_redis_server.iter().map(|case| (case, true));
    let all: Vec<_> = all.chain(suite.run_anywhere.iter().map(|case| (case, false))).collect();
    let selected: Vec<_> = all.iter().filter(|(case, _)| options.selects(case.0)).collect();
    let filtered_out = all.len() - selected.len();

    if options.list {
        for ((name, _), _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    if options.only_ignored {
        // None of these tests is marked `#[ignore]`: `--ignored` selects none.
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; {} filtered out\n", all.len());
        return ExitCode::SUCCESS;
    }

    println!("\nrunning {} tests", selected.len());
    let (to_run, skipped): (Vec<_>, Vec<_>) =
        selected.into_iter().partition(|(_, needs_redis)| !(skip_redis && *needs_redis));
    for ((name, _), _) in &skipped {
        println!("test {name} ... ignored, redis-server is not on the PATH");
    }
    let cases: Vec<Case> = to_run.iter().map(|(case, _)| **case).collect();
    let failed = run_in_parallel(&cases, options.threads);

    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    if !skipped.is_empty() {
        banner(suite.name, skipped.len());
    }
    let passed = cases.len() - failed.len();
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; {} ignored; 0 measured; {filtered_out} filtered out\n",
        failed.len(),
        skipped.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

/// Runs every case, each on a thread of its own named after it (so a
/// panic message names the test), at most `threads` at a time. Returns the
/// names of the cases that panicked; each panic has already been printed
/// by the panic hook, as it happened.
fn run_in_parallel(cases: &[Case], threads: Option<usize>) -> Vec<&'static str> {
    let workers = threads
        .or_else(|| thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, cases.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(&(name, body)) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let outcome = thread::Builder::new()
                        .name(name.to_string())
                        .spawn(body)
                        .map(|test| test.join());
                    let verdict = match outcome {
                        Ok(Ok(())) => "ok",
                        _ => {
                            failed.lock().unwrap_or_else(|e| e.into_inner()).push(name);
                            "FAILED"
                        }
                    };
                    println!("test {name} ... {verdict}");
                }
            });
        }
    });
    failed.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// The notice that cannot be missed: how many, why, and how to run them.
fn banner(suite: &str, skipped: usize) {
    let rule = "=".repeat(76);
    println!("\n{rule}");
    println!("SKIPPED {skipped} tests of {suite}: redis-server is not on the PATH.");
    println!("They test duplex's Redis layer against a real redis-server. To run them,");
    println!("install it (Debian: apt-get install redis-server) and run cargo test again,");
    println!("or run the whole CI, which installs it: bash .ci/run");
    println!("{REQUIRE_REDIS}=1 makes a missing redis-server a failure instead (CI sets it).");
    println!("{rule}");
}
