//! Logging: `tracing` to stderr, one line per request (target `hearth::request`). Lines go
//! through a background writer so a request never waits on a write to the terminal or a pipe.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the subscriber; keep the guard alive until exit so buffered lines are flushed.
pub fn init(cfg: &LogConfig) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = if cfg.format == "json" {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
    guard
}
