//! Logging: `tracing` to stderr, one line per request (target `hearth::request`). Lines are
//! collected in memory and written by one background thread, so a request never waits on a
//! write to the terminal or a pipe. The last warnings and errors are also kept in memory for
//! the system page.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

mod batch;
pub use batch::LogGuard;

/// How many recent warnings and errors the system page shows.
const RECENT: usize = 50;

/// The last warnings and errors, newest last (bounded).
#[derive(Clone, Default)]
pub struct RecentErrors(Arc<Mutex<VecDeque<String>>>);

impl RecentErrors {
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}

struct Message(String);
impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for RecentErrors {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        // The real time, as in every log line, even when a test moved the services' clock.
        let when = httpdate::fmt_http_date(std::time::SystemTime::now());
        if let Ok(mut q) = self.0.lock() {
            if q.len() >= RECENT {
                q.pop_front();
            }
            q.push_back(format!("{when} {level} {}", m.0));
        }
    }
}

/// Installs the subscriber; keep the guard alive until exit so buffered lines are flushed.
pub fn init(cfg: &LogConfig, recent: RecentErrors) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    let (writer, guard) = batch::writer();
    let direct = writer.clone();
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let registry = tracing_subscriber::registry().with(recent);
    let ansi = std::io::stderr().is_terminal();
    let installed = if cfg.format == "json" {
        registry.with(fmt.json().with_filter(filter)).try_init()
    } else {
        registry.with(fmt.compact().with_filter(filter)).try_init()
    };
    if installed.is_ok() && cfg.format != "json" && !ansi {
        let _ = DIRECT.set(direct);
    }
    guard
}

/// Where request lines go without tracing's formatter: plain text logs (no JSON, no colours).
static DIRECT: std::sync::OnceLock<batch::BatchWriter> = std::sync::OnceLock::new();

/// Logs one request line (`hearth::request` at INFO). For plain text logs it is written in
/// tracing's compact layout directly: at tens of thousands of requests a second, tracing's
/// event formatting was a tenth of a small request's cost. Filters (`log.level`, `RUST_LOG`)
/// apply as to any event.
pub fn request_line(line: &str) {
    if let Some(w) = DIRECT.get()
        && tracing::enabled!(target: "hearth::request", Level::INFO)
    {
        use std::io::Write;
        let mut out = String::with_capacity(line.len() + 64);
        push_timestamp(&mut out, time::OffsetDateTime::now_utc());
        out.push_str("  INFO hearth::request: ");
        out.push_str(line);
        out.push('\n');
        let _ = w.clone().write_all(out.as_bytes());
        return;
    }
    tracing::info!(target: "hearth::request", "{line}");
}

/// `2026-12-02T16:03:48.648477Z`, as tracing-subscriber writes its timestamps.
fn push_timestamp(out: &mut String, t: time::OffsetDateTime) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    );
}
