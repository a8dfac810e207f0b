//! A scheduler hint for the threads that answer requests.
//!
//! Answering a request takes tens of microseconds of CPU, in bursts. Linux's EEVDF scheduler
//! (6.12 and later: the image's kernel) lets a thread ask for a shorter time slice than the
//! default (0.7 ms times a factor for the number of cores). That gives it no more CPU in
//! total, only shorter turns: when a request wakes it while every core is busy, it can
//! preempt a thread running a longer slice instead of queueing behind it, so the answer
//! leaves sooner. Measured on the 2-core test VM, where the benchmark's own client shares the
//! cores: small downloads (8 clients, 4 KiB) +2 to +8 % files/s (docs/benchmarks.md).
//!
//! Only the async workers ask, and the commit thread whose answers writers wait for
//! (`store::commit`). Blocking threads (uploads' writers, password hashing) keep
//! the default: a thread that runs for milliseconds would only pay extra context switches.
//! The thread's nice value and policy stay as they are, so `nice`, `Nice=` or `CPUWeight=`
//! given by whoever starts Hearth keep working. Older kernels ignore the slice; a failure is
//! harmless and not reported.

use std::cell::Cell;

/// The slice request threads ask for: the shortest the kernel accepts.
const REQUEST_SLICE_NS: u64 = 100_000;

thread_local! {
    static ASKED: Cell<bool> = const { Cell::new(false) };
}

/// For every new runtime thread: the kernel's default slice. (A thread inherits its
/// creator's; blocking threads are started from the workers.)
pub fn default_slice() {
    set_slice(0);
}

/// For an async worker, each time it wakes: asks for the short slice once.
pub fn request_slice() {
    ASKED.with(|asked| {
        if !asked.get() {
            asked.set(true);
            set_slice(REQUEST_SLICE_NS);
        }
    });
}

/// `struct sched_attr` as of Linux 3.14 (`SCHED_ATTR_SIZE_VER0`, 48 bytes).
#[cfg(target_os = "linux")]
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Keep the thread's policy (`SCHED_FLAG_KEEP_POLICY`); the nice value is passed unchanged.
#[cfg(target_os = "linux")]
const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;

/// Sets the calling thread's slice (`0`: the kernel's default); best effort.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_slice(ns: u64) {
    // SAFETY: getpriority and sched_setattr only read their arguments; the attribute is a
    // fully initialised `struct sched_attr` of the size it declares, it outlives the call,
    // and pid 0 names the calling thread.
    unsafe {
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: 0,
            flags: SCHED_FLAG_KEEP_POLICY,
            nice,
            priority: 0,
            runtime: ns,
            deadline: 0,
            period: 0,
        };
        let _ = libc::syscall(libc::SYS_sched_setattr, 0, &raw const attr, 0u32);
    }
}

#[cfg(not(target_os = "linux"))]
fn set_slice(_ns: u64) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The slice the kernel reports for the calling thread, where it reports one (EEVDF).
    fn reported_slice() -> Option<u64> {
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()?
            .to_string_lossy()
            .rsplit('/')
            .next()?
            .to_owned();
        let sched = std::fs::read_to_string(format!("/proc/self/task/{tid}/sched")).ok()?;
        sched
            .lines()
            .find(|l| l.starts_with("se.slice"))?
            .rsplit(':')
            .next()?
            .trim()
            .parse()
            .ok()
    }

    #[test]
    fn a_worker_asks_once_and_new_threads_start_from_the_default() {
        std::thread::spawn(|| {
            let before = reported_slice();
            request_slice();
            let Some(after) = reported_slice() else {
                return; // no EEVDF here: nothing to see
            };
            assert_eq!(after, REQUEST_SLICE_NS, "kernel reported {before:?} before");
            // A thread started from this one inherits the short slice until it resets.
            std::thread::spawn(|| {
                assert_eq!(reported_slice(), Some(REQUEST_SLICE_NS));
                default_slice();
                assert_ne!(reported_slice(), Some(REQUEST_SLICE_NS));
            })
            .join()
            .unwrap();
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_nice_value_is_kept() {
        std::thread::spawn(|| {
            // SAFETY: setpriority/getpriority on the calling thread (pid 0).
            #[allow(unsafe_code)]
            let (set, nice) = unsafe {
                (
                    libc::setpriority(libc::PRIO_PROCESS, 0, 7),
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                )
            };
            assert_eq!((set, nice), (0, 7));
            request_slice();
            #[allow(unsafe_code)]
            // SAFETY: as above.
            let after = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            assert_eq!(after, 7);
        })
        .join()
        .unwrap();
    }
}
