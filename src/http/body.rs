//! Streaming bodies: a request body read as `AsyncRead` (with a stall timeout), and response
//! bodies fed from a file range or from a channel. Nothing here holds a whole file or listing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

/// A request body as `AsyncRead`. A body that stalls for `timeout` fails with `TimedOut`; a
/// connection that breaks mid-body fails with `UnexpectedEof`.
pub struct BodyReader {
    body: Incoming,
    chunk: Bytes,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl BodyReader {
    pub fn new(body: Incoming, timeout: Duration) -> Self {
        BodyReader {
            body,
            chunk: Bytes::new(),
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.chunk.is_empty() {
                let n = self.chunk.len().min(buf.remaining());
                buf.put_slice(&self.chunk[..n]);
                self.chunk.advance(n);
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let t = self.timeout;
                    self.deadline.as_mut().reset(Instant::now() + t);
                    if let Ok(data) = frame.into_data() {
                        self.chunk = data;
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, e)));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    ready!(self.deadline.as_mut().poll(cx));
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request body stalled",
                    )));
                }
            }
        }
    }
}

/// A response body fed by a task through a small bounded channel, so a producer (a listing)
/// runs only as fast as the client reads.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody { rx })
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match ready!(self.rx.poll_recv(cx)) {
            Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
            None => Poll::Ready(None),
        }
    }
}

/// A file range streamed in chunks as the client takes them (`blobs::read::RangeStream`:
/// read on the runtime when the page cache holds the chunk, on the blocking pool otherwise;
/// the kernel's read-ahead keeps the next chunks coming while one is sent).
pub struct FileBody {
    stream: crate::blobs::read::RangeStream,
}

pub fn file_range(path: std::path::PathBuf, start: u64, len: u64) -> FileBody {
    FileBody {
        stream: crate::blobs::read::RangeStream::new(path, start, len),
    }
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.stream
            .poll_chunk(cx)
            .map(|c| c.map(|r| r.map(Frame::data)))
    }
}
