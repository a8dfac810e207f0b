//! The log writer: lines are appended to a buffer in memory and one thread writes them out
//! 50 ms after the first of them arrived, or as soon as 64 KiB are waiting. With nothing to
//! write the thread sleeps until a line comes: an idle box is not woken 20 times a second.
//! Only request lines (target `hearth::request`) wait like that: any other line (start-up,
//! the claim code, warnings) is urgent and is written at once, with whatever is buffered
//! before it, because a person at the console or a script reading the log is waiting for it.
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
    /// A line that must not wait for the gathering interval is buffered.
    urgent: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// The target of request lines, the only ones that are batched.
const REQUEST_TARGET: &str = "hearth::request";

/// Hands out writers that append to the shared buffer (one `write_all` per event). An urgent
/// writer also has the thread write without waiting for more lines.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
    urgent: bool,
}

impl Write for BatchWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut p = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if p.buf.len() + b.len() > MAX_PENDING {
            p.dropped += 1;
            return Ok(b.len());
        }
        let before = p.buf.len();
        p.buf.extend_from_slice(b);
        // Only the first line (the thread may be asleep with no timer), the one that fills
        // the buffer and an urgent one wake it; every other notify would be a wasted futex
        // call.
        let newly_urgent = self.urgent && !p.urgent;
        p.urgent |= self.urgent;
        if before == 0 || (before < WAKE_AT && p.buf.len() >= WAKE_AT) || newly_urgent {
            self.shared.wake.notify_one();
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

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        BatchWriter {
            shared: self.shared.clone(),
            urgent: self.urgent || meta.target() != REQUEST_TARGET,
        }
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

fn writer_to(out: impl Write + Send + 'static) -> (BatchWriter, LogGuard) {
    writer_gathering(out, INTERVAL)
}

/// `interval`: how long request lines gather (a test sets it long to tell urgent lines apart).
fn writer_gathering(
    mut out: impl Write + Send + 'static,
    interval: Duration,
) -> (BatchWriter, LogGuard) {
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
                        .wait_timeout_while(p, interval, |p| {
                            !p.closing && !p.urgent && p.buf.len() < WAKE_AT
                        })
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    std::mem::swap(&mut p.buf, &mut spare);
                    p.urgent = false;
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
    (
        BatchWriter {
            shared: shared.clone(),
            urgent: false,
        },
        LogGuard { shared, thread },
    )
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

    /// Through tracing's formatter, as in the binary: a request line waits for company; a
    /// warning behind it is written at once and takes the request line with it, in order.
    /// The gathering interval is 30 s here, so the bounds tell the two apart even on a
    /// loaded machine.
    #[test]
    fn a_non_request_line_is_written_without_the_gathering_wait() {
        let sink = Sink::default();
        let (w, guard) = writer_gathering(sink.clone(), Duration::from_secs(30));
        let text = || {
            String::from_utf8(sink.0.lock().map(|b| b.clone()).unwrap_or_default())
                .unwrap_or_default()
        };
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(w)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "hearth::request", "GET /status.php 200");
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(text(), "", "a request line was written before the interval");
            tracing::warn!("not set up yet: claim code");
        });
        let t0 = std::time::Instant::now();
        while !text().contains("claim code") {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "urgent line not written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let got = text();
        let request = got.find("GET /status.php").unwrap_or(usize::MAX);
        assert!(request < got.find("claim code").unwrap_or(0), "{got}");
        drop(guard);
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
