//! The log writer: lines are appended to a buffer in memory and one thread writes them out
//! 50 ms after the first of them arrived, or as soon as 64 KiB are waiting. With nothing to
//! write the thread sleeps until a line comes: an idle box is not woken 20 times a second.
//!
//! Why not `tracing_appender::non_blocking`: it sends every line through a channel whose
//! receiving thread is woken for each one; at tens of thousands of requests a second those
//! wake-ups cost more CPU than the requests themselves (measured with perf: futex wake/wait
//! was the largest item of a 4 KiB GET). Here a request only takes a mutex and copies its
//! line. When the output cannot keep up (a stalled pipe), lines beyond 4 MiB are dropped and
//! counted, never blocking a request.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

const WAKE_AT: usize = 64 * 1024;
const MAX_PENDING: usize = 4 * 1024 * 1024;
const INTERVAL: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    dropped: u64,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// Hands out writers that append to the shared buffer (one `write_all` per event).
#[derive(Clone)]
pub struct BatchWriter(Arc<Shared>);

impl Write for BatchWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut p = self
            .0
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if p.buf.len() + b.len() > MAX_PENDING {
            p.dropped += 1;
            return Ok(b.len());
        }
        let before = p.buf.len();
        p.buf.extend_from_slice(b);
        // Only the first line (the thread may be asleep with no timer) and the one that fills
        // the buffer wake it; every other notify would be a wasted futex call.
        if before == 0 || (before < WAKE_AT && p.buf.len() >= WAKE_AT) {
            self.0.wake.notify_one();
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Flushes what is buffered and stops the writing thread when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closing = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A writer for the fmt layer and the guard that owns its thread (writing to stderr).
pub fn writer() -> (BatchWriter, LogGuard) {
    writer_to(io::stderr())
}

fn writer_to(mut out: impl Write + Send + 'static) -> (BatchWriter, LogGuard) {
    let shared = Arc::new(Shared::default());
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("hearth-log".into())
        .spawn(move || {
            let mut spare = Vec::new();
            loop {
                let (closing, dropped) = {
                    let mut p = worker
                        .pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    while p.buf.is_empty() && !p.closing {
                        p = worker.wake.wait(p).unwrap_or_else(PoisonError::into_inner);
                    }
                    // Let lines gather for a moment rather than writing them one by one.
                    p = worker
                        .wake
                        .wait_timeout_while(p, INTERVAL, |p| !p.closing && p.buf.len() < WAKE_AT)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    std::mem::swap(&mut p.buf, &mut spare);
                    (p.closing, std::mem::take(&mut p.dropped))
                };
                if !spare.is_empty() {
                    let _ = out.write_all(&spare);
                    spare.clear();
                    if spare.capacity() > 4 * WAKE_AT {
                        spare.shrink_to(WAKE_AT);
                    }
                }
                if dropped > 0 {
                    let _ = writeln!(
                        out,
                        "hearth: {dropped} log line(s) dropped: the log output is not keeping up"
                    );
                }
                let _ = out.flush();
                if closing {
                    break;
                }
            }
        })
        .ok();
    (BatchWriter(shared.clone()), LogGuard { shared, thread })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The thread sleeps without a timer while idle: a line must still wake it and be written
    /// within a moment, not at shutdown. Twice, so the second wait starts from idle again.
    #[test]
    fn a_line_after_idle_is_written_promptly() {
        let sink = Sink::default();
        let (mut w, guard) = writer_to(sink.clone());
        for n in 1..=2 {
            std::thread::sleep(Duration::from_millis(120));
            let _ = w.write_all(format!("line {n}\n").as_bytes());
            let t0 = std::time::Instant::now();
            while sink.0.lock().map(|b| b.len()).unwrap_or(0) < 7 * n {
                assert!(
                    t0.elapsed() < Duration::from_secs(2),
                    "line {n} not written"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        drop(guard);
        assert_eq!(
            sink.0.lock().map(|b| b.clone()).unwrap_or_default(),
            b"line 1\nline 2\n"
        );
    }

    #[test]
    fn lines_arrive_whole_and_in_order_and_are_flushed_on_drop() {
        let sink = Sink::default();
        let (w, guard) = writer_to(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let _ = w.write_all(format!("t{t} line {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
        drop(guard);
        let got = String::from_utf8(sink.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(got.lines().count(), 2000);
        for t in 0..4 {
            let mine: Vec<_> = got
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            let want: Vec<_> = (0..500).map(|i| format!("t{t} line {i}")).collect();
            assert_eq!(mine, want);
        }
    }
}
