//! # Threads are a budget
//!
//! Thread-per-connection has one hard ceiling that is easy to miss. On
//! Linux every thread the standard library starts costs about four memory
//! *mappings*: its stack, the stack's guard page, and the small alternate
//! stack std installs to report stack overflows, with its own guard page.
//! A process may hold at most `vm.max_map_count` mappings (65,530 by
//! default), so it can run about 16,000 threads, whatever the memory.
//!
//! The trap: when the limit is hit, `thread::Builder::spawn` may still
//! succeed, and the new thread then fails to map its signal stack *inside*
//! the runtime, which aborts the whole process. Careful handling of spawn
//! errors never sees it. (The load generator found this at 8,184 chat
//! members, two threads each; see `docs/performance.md`.)
//!
//! So threads are counted, like connections, against a budget derived
//! from the machine's mapping limit, and a thread that would not fit is
//! refused *before* it is started: the connection gets `503`, a chat
//! member close 1013 ("try again later"), and the server lives on.
//!
//! The count is process-wide because the limit is: one process, one
//! budget.
//!
//! Read next: `src/config.rs`.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::{Builder, JoinHandle};

/// Mappings one std thread costs (stack, guard, signal stack, its guard).
const MAPPINGS_PER_THREAD: usize = 4;

/// Mappings left for everything else: the binary, libraries, the heap's
/// arenas, files.
const MAPPINGS_RESERVED: usize = 4_000;

/// Used when `/proc/sys/vm/max_map_count` cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

/// A count of running threads with an upper bound.
#[derive(Debug)]
pub struct ThreadBudget {
    running: AtomicUsize,
    limit: usize,
}

/// One thread's place in the budget; dropping it gives the place back.
#[derive(Debug)]
pub struct ThreadPermit<'a>(&'a ThreadBudget);

impl Drop for ThreadPermit<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ThreadBudget {
    pub const fn new(limit: usize) -> ThreadBudget {
        ThreadBudget { running: AtomicUsize::new(0), limit }
    }

    /// A place for one more thread, or `None` when the budget is spent.
    pub fn try_acquire(&self) -> Option<ThreadPermit<'_>> {
        let before = self.running.fetch_add(1, Ordering::AcqRel);
        if before >= self.limit {
            self.running.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ThreadPermit(self))
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// The budget for this process, sized from this machine's mapping limit.
pub fn process_budget() -> &'static ThreadBudget {
    static BUDGET: OnceLock<ThreadBudget> = OnceLock::new();
    BUDGET.get_or_init(|| ThreadBudget::new(limit_for(max_map_count())))
}

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_MAP_COUNT)
}

/// How many threads fit under a mapping limit, with room to spare.
fn limit_for(max_map_count: usize) -> usize {
    max_map_count.saturating_sub(MAPPINGS_RESERVED) / MAPPINGS_PER_THREAD
}

/// Starts a thread if the process budget allows, holding its place until
/// the thread ends (a panic included). Refused: `ErrorKind::WouldBlock`.
pub fn spawn<F, T>(name: String, stack_size: usize, work: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let budget = process_budget();
    let Some(permit) = budget.try_acquire() else {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("thread budget of {} spent", budget.limit()),
        ));
    };
    spawn_with(permit, name, stack_size, work)
}

/// Starts a thread on a place already taken from the process budget (for
/// a caller that must know before it gives its work away).
pub fn spawn_with<F, T>(
    permit: ThreadPermit<'static>,
    name: String,
    stack_size: usize,
    work: F,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().name(name).stack_size(stack_size).spawn(move || {
        let _permit = permit;
        work()
    })
    // If the spawn itself fails, the closure and the permit inside it are
    // dropped, which gives the place back.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_limit_and_frees_on_drop() {
        let budget = ThreadBudget::new(2);
        let first = budget.try_acquire().expect("first");
        let second = budget.try_acquire().expect("second");
        assert!(budget.try_acquire().is_none());
        assert_eq!(budget.running(), 2);
        drop(first);
        let third = budget.try_acquire().expect("a place came free");
        assert_eq!(budget.running(), 2);
        drop((second, third));
        assert_eq!(budget.running(), 0);
    }

    #[test]
    fn the_default_mapping_limit_allows_about_fifteen_thousand_threads() {
        assert_eq!(limit_for(65_530), 15_382);
        assert_eq!(limit_for(100), 0);
    }

    #[test]
    fn spawned_threads_hold_a_place_until_they_end() {
        let before = process_budget().running();
        let handle = spawn("budget-test".into(), 64 * 1024, || process_budget().running());
        let running_inside = handle.unwrap().join().unwrap();
        // Inside, the thread held a place (other tests may hold more).
        assert!(running_inside > before || running_inside >= 1);
        assert!(process_budget().running() <= process_budget().limit());
    }
}
