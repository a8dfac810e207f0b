//! The one log line per request, written when the answer has been sent (or abandoned), so
//! `ms` covers a streamed body too, not just the time to the status line.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::http::Body;

pub struct RequestLine {
    pub id: String,
    pub peer: std::net::IpAddr,
    pub user: String,
    pub method: http::Method,
    pub path: String,
    pub status: u16,
    pub started: Instant,
    /// JSON logs get the fields one by one; text logs get the line written in one go.
    pub json: bool,
}

pub struct LoggedBody {
    inner: Body,
    line: Option<RequestLine>,
    bytes: u64,
    complete: bool,
}

impl LoggedBody {
    pub fn new(inner: Body, line: RequestLine) -> Self {
        LoggedBody {
            inner,
            line: Some(line),
            bytes: 0,
            complete: false,
        }
    }
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    self.bytes += d.len() as u64;
                }
            }
            Poll::Ready(None) => self.complete = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        let Some(l) = self.line.take() else { return };
        let ms = (l.started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
        // A body the client stopped reading (or a connection that broke) is marked.
        let done = self.complete || self.inner.is_end_stream();
        if !l.json {
            // The same text the fields would give, formatted here at once: tracing's field
            // visitors were most of a logged request's cost (perf, 4 KiB GETs under wrk).
            use std::fmt::Write;
            let mut line = String::with_capacity(160 + l.path.len());
            let _ = write!(
                line,
                "id={} peer={} user={} method={} path={} status={} bytes={} ms={ms} complete={done}",
                l.id, l.peer, l.user, l.method, l.path, l.status, self.bytes
            );
            crate::telemetry::request_line(&line);
            return;
        }
        tracing::info!(
            target: "hearth::request",
            id = %l.id,
            peer = %l.peer,
            user = %l.user,
            method = %l.method,
            path = %l.path,
            status = l.status,
            bytes = self.bytes,
            ms,
            complete = done,
        );
    }
}
