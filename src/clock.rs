//! The one clock: every wall-clock reading of the services (record times, etags, token and
//! code lifetimes, reminders, certificates) goes through [`now`], so a test can move time
//! instead of sleeping.
//!
//! Outside release builds the clock can be set ([`testing`]): per thread for unit tests (which
//! run in parallel), and for the whole process by `HEARTH_TEST_CLOCK_OFFSET_SECS` at start
//! for tests that drive the real binary. A release build has no way to set it: the module and
//! the branch in [`now`] do not exist there (`debug_assertions` is off in the release profile).
//! Monotonic time has its seam too, [`instant`], for the windows and lifetimes the services
//! keep in memory (failed-login throttling, Login Flow v2 tokens, the credential cache, lock
//! timeouts); network timeouts and I/O pacing use `Instant` and tokio directly: they measure
//! how long something takes, and a test has no reason to move them.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The wall clock.
pub fn now() -> SystemTime {
    #[cfg(debug_assertions)]
    if let Some(t) = testing::reading() {
        return t;
    }
    SystemTime::now()
}

/// The monotonic clock (what windows and in-memory lifetimes are measured on).
pub fn instant() -> Instant {
    #[cfg(debug_assertions)]
    if let Some(ahead) = testing::ahead() {
        return Instant::now() + ahead;
    }
    Instant::now()
}

/// Unix time in milliseconds (0 before 1970).
pub fn now_ms() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix time in seconds (0 before 1970).
pub fn now_secs() -> i64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix time in seconds, unsigned (0 before 1970).
pub fn now_unix_secs() -> u64 {
    now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Unix time in microseconds (0 before 1970).
pub fn now_micros() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A settable clock, in builds with debug assertions only.
#[cfg(debug_assertions)]
pub mod testing {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::{Duration, SystemTime};

    thread_local! {
        /// This thread's fixed time, when a unit test set one.
        static FIXED: Cell<Option<SystemTime>> = const { Cell::new(None) };
        /// How far this thread's monotonic clock runs ahead (`advance`).
        static AHEAD: Cell<Option<Duration>> = const { Cell::new(None) };
    }

    pub(super) fn ahead() -> Option<Duration> {
        AHEAD.with(Cell::get)
    }

    /// Seconds added to the real clock for the whole process.
    static OFFSET_SECS: AtomicI64 = AtomicI64::new(0);

    pub(super) fn reading() -> Option<SystemTime> {
        if let Some(t) = FIXED.with(Cell::get) {
            return Some(t);
        }
        let off = OFFSET_SECS.load(Ordering::Relaxed);
        (off != 0).then(|| shift(SystemTime::now(), off))
    }

    fn shift(t: SystemTime, secs: i64) -> SystemTime {
        let d = Duration::from_secs(secs.unsigned_abs());
        if secs >= 0 { t + d } else { t - d }
    }

    /// Fixes this thread's clock at `t` until [`reset`].
    pub fn set(t: SystemTime) {
        FIXED.with(|f| f.set(Some(t)));
    }

    /// Moves this thread's clocks on by `d`: the wall clock (from the real time if it was not
    /// set) and the monotonic one.
    pub fn advance(d: Duration) {
        FIXED.with(|f| f.set(Some(f.get().unwrap_or_else(super::now) + d)));
        AHEAD.with(|a| a.set(Some(a.get().unwrap_or_default() + d)));
    }

    /// This thread reads the real clocks again.
    pub fn reset() {
        FIXED.with(|f| f.set(None));
        AHEAD.with(|a| a.set(None));
    }

    /// Shifts the clock of the whole process; read once at start from
    /// `HEARTH_TEST_CLOCK_OFFSET_SECS` (see `lib::serve_blocking`).
    pub fn set_process_offset(secs: i64) {
        OFFSET_SECS.store(secs, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_test_moves_time_on_its_own_thread_only() {
        let start = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        testing::set(start);
        assert_eq!(now_secs(), 4_000_000_000);
        let before = instant();
        testing::advance(Duration::from_secs(30 * 86_400));
        assert_eq!(now_secs(), 4_000_000_000 + 30 * 86_400);
        assert!(instant().duration_since(before) >= Duration::from_secs(30 * 86_400));
        assert_eq!(now_ms(), (4_000_000_000 + 30 * 86_400) * 1000);
        let other = std::thread::spawn(now_secs).join().unwrap_or(0);
        assert!(
            other < 4_000_000_000,
            "another thread saw this test's clock"
        );
        testing::reset();
        assert!(now_secs() < 4_000_000_000);
    }
}
