//! Group commit for writes from async code.
//!
//! Every durable redb commit ends in an fsync (0.2–0.8 ms on this kind of VM, several ms on an
//! SD card), and redb has one writer: eight clients uploading small files would queue behind
//! each other's fsyncs, each holding an async worker while it waits. Instead,
//! `Store::write_queued` hands the write to one committing thread, which runs whatever has
//! queued meanwhile in one transaction with one durable commit, and only then answers each
//! write: "acknowledged" still means "on disk".
//!
//! One failing write never takes another with it: when a write in a batch fails, the batch's
//! transaction is dropped (nothing of it is kept) and its writes run again one by one, each in
//! its own transaction. Writes are therefore closures that can run twice.
//!
//! A writer that is about to queue a write (a small upload whose content is being written)
//! says so first (`Store::expect_write`); while one is on its way, the committing thread waits
//! a moment for it (at most `GATHER`) before committing, so that clients uploading many small
//! files together share fsyncs instead of alternating between two half-full batches.
//!
//! Once writes stop for `SETTLE`, the thread commits one empty transaction (after its own
//! commits and after those `Store::write` makes directly, which it is told of). A durable redb
//! commit ends with a non-durable one of its own (the pages it freed), whose pages stay in
//! redb's write buffer until the next durable commit; while any do, every read that misses
//! the page cache first tries to write them out, taking all 131 of the buffer's stripe locks
//! when there is nothing left to write. Measured with `wrk` (8 connections, 4 KiB GETs of
//! 2,000 files just uploaded): 41k answers/s before, 49k after. The empty commit writes the
//! buffer out, costs one fsync per burst of writes, and changes nothing readers see.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::Database;
use tokio::sync::oneshot;

use super::{SharedReads, StoreError, WriteTx};

/// Most writes made durable by one commit (bounds how long the first of them waits).
const MAX_BATCH: usize = 64;
/// How long a batch waits at most for writes that have said they are on their way.
const GATHER: Duration = Duration::from_micros(500);
/// How long writes must have stopped before the settling commit (see the module comment).
const SETTLE: Duration = Duration::from_millis(50);

/// One queued write, type-erased for the committing thread.
trait Queued: Send {
    /// Waits for what the write depends on; false when that failed (the write is over).
    fn ready(&mut self) -> bool;
    /// Runs the write in `tx`; false when it failed.
    fn apply(&mut self, tx: &WriteTx) -> bool;
    /// Answers the caller (`Some(reason)`: the batch could not be committed).
    fn finish(self: Box<Self>, failed: Option<&str>);
}

struct Write<T, E, R, F> {
    ready: Option<R>,
    f: F,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
    /// Held while the write is announced and not yet on the committing thread.
    _expected: Option<Expected>,
}

impl<T, E, R, F> Queued for Write<T, E, R, F>
where
    T: Send,
    E: From<StoreError> + Send,
    R: FnOnce() -> Result<(), E> + Send,
    F: Fn(&WriteTx) -> Result<T, E> + Send,
{
    fn ready(&mut self) -> bool {
        self._expected = None;
        match self.ready.take().map_or(Ok(()), |r| r()) {
            Ok(()) => true,
            Err(e) => {
                self.result = Some(Err(e));
                false
            }
        }
    }

    fn apply(&mut self, tx: &WriteTx) -> bool {
        let r = (self.f)(tx);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, failed: Option<&str>) {
        let result = match (self.result, failed) {
            (Some(Ok(_)), Some(why)) => Err(E::from(StoreError::NotDurable(why.to_owned()))),
            (Some(r), _) => r,
            (None, _) => Err(E::from(StoreError::NotDurable(
                failed.unwrap_or("the write did not run").to_owned(),
            ))),
        };
        let _ = self.reply.send(result);
    }
}

/// Word that a commit happened outside the queue (`Store::write`): the thread settles after it
/// as after its own. It never runs, so no transaction is begun for it.
struct CommittedElsewhere;

impl Queued for CommittedElsewhere {
    fn ready(&mut self) -> bool {
        false
    }

    fn apply(&mut self, _tx: &WriteTx) -> bool {
        true
    }

    fn finish(self: Box<Self>, _failed: Option<&str>) {}
}

/// A write on its way to the queue (see the module comment); dropping it withdraws it.
pub struct Expected(Arc<AtomicUsize>);

impl Drop for Expected {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(super) struct Committer {
    queue: Mutex<Option<Sender<Box<dyn Queued>>>>,
    expected: Arc<AtomicUsize>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// `reads` is told of every commit (`Store::read` then begins a fresh transaction).
    pub fn start(db: Arc<Database>, reads: Arc<SharedReads>) -> std::io::Result<Committer> {
        let (tx, rx) = channel();
        let expected = Arc::new(AtomicUsize::new(0));
        let seen = expected.clone();
        let thread = std::thread::Builder::new()
            .name("hearth-commit".into())
            .spawn(move || {
                // Writers wait for this thread's answers: it asks for the short slice too.
                crate::sched::request_slice();
                run(&db, &rx, &seen, &reads);
            })?;
        Ok(Committer {
            queue: Mutex::new(Some(tx)),
            expected,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn expect(&self) -> Expected {
        self.expected.fetch_add(1, Ordering::AcqRel);
        Expected(self.expected.clone())
    }

    /// Runs `ready` and then `f` on the committing thread; resolves once the write is durable
    /// (or failed, leaving nothing behind). `ready` waits for what the write depends on (a
    /// new blob's fsync) before any transaction begins.
    pub async fn write<T, E, R, F>(
        &self,
        expected: Option<Expected>,
        ready: R,
        f: F,
    ) -> Result<T, E>
    where
        R: FnOnce() -> Result<(), E> + Send + 'static,
        F: Fn(&WriteTx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let job: Box<dyn Queued> = Box::new(Write {
            ready: Some(ready),
            f,
            result: None,
            reply,
            _expected: expected,
        });
        if !self.send(job) {
            return Err(E::from(StoreError::WriterGone));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::from(StoreError::WriterGone)))
    }

    /// Says that `Store::write` committed, so that the thread settles after it too.
    pub fn committed_elsewhere(&self) {
        self.send(Box::new(CommittedElsewhere));
    }

    /// Queues `job`; false once the thread is stopping.
    fn send(&self, job: Box<dyn Queued>) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|q| q.send(job).is_ok())
    }

    /// Lets queued writes finish and stops the thread (the database file stays locked until
    /// it has).
    pub fn stop(&self) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = t.join();
        }
    }
}

fn run(
    db: &Database,
    queue: &Receiver<Box<dyn Queued>>,
    expected: &AtomicUsize,
    reads: &SharedReads,
) {
    // Whether a commit happened since the last settling one.
    let mut unsettled = false;
    loop {
        let first = if unsettled {
            match queue.recv_timeout(SETTLE) {
                Ok(j) => j,
                Err(RecvTimeoutError::Timeout) => {
                    settle(db);
                    unsettled = false;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match queue.recv() {
                Ok(j) => j,
                Err(_) => break,
            }
        };
        let mut batch = vec![first];
        let deadline = Instant::now() + GATHER;
        while batch.len() < MAX_BATCH {
            if let Ok(j) = queue.try_recv() {
                batch.push(j);
                continue;
            }
            if expected.load(Ordering::Acquire) == 0 {
                break;
            }
            match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(j) => batch.push(j),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        // A panicking write (a bug) must not stop the thread every later write needs; its
        // caller sees the write fail.
        if catch_unwind(AssertUnwindSafe(|| commit_batch(db, batch, reads))).is_err() {
            tracing::error!("a queued database write panicked");
        }
        unsettled = true;
    }
}

/// The empty durable commit that writes out what redb's last commit left buffered. Readers
/// keep their snapshot: nothing they can see changes.
fn settle(db: &Database) {
    let done = match db.begin_write() {
        Ok(txn) => txn.commit().map_err(redb::Error::from),
        Err(e) => Err(redb::Error::from(e)),
    };
    if let Err(e) = done {
        tracing::warn!(error = %e, "the settling commit failed (reads stay slower until the next write)");
    }
}

fn commit_batch(db: &Database, batch: Vec<Box<dyn Queued>>, reads: &SharedReads) {
    let (mut ready, failed): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|mut j| (j.ready(), j))
        .partition(|(ok, _)| *ok);
    for (_, j) in failed {
        j.finish(None);
    }
    let mut jobs: Vec<Box<dyn Queued>> = ready.drain(..).map(|(_, j)| j).collect();
    if jobs.is_empty() {
        return;
    }
    let outcome = together(db, &mut jobs);
    // Readers begin a new transaction from here on (before any writer is answered).
    reads.committed();
    match outcome {
        Ok(true) => {
            for j in jobs {
                j.finish(None);
            }
        }
        Ok(false) => {
            // One of them failed: nothing of the batch was kept; each runs again on its own.
            for mut j in jobs {
                let failed = alone(db, j.as_mut()).err().map(|e| e.to_string());
                reads.committed();
                j.finish(failed.as_deref());
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "could not commit queued writes");
            let why = e.to_string();
            for j in jobs {
                j.finish(Some(&why));
            }
        }
    }
}

/// All of `jobs` in one durable transaction; `Ok(false)` when one of them failed (then
/// nothing was written).
fn together(db: &Database, jobs: &mut [Box<dyn Queued>]) -> Result<bool, StoreError> {
    let txn = db.begin_write()?;
    {
        let tx = WriteTx::new(&txn);
        for j in jobs.iter_mut() {
            if !j.apply(&tx) {
                return Ok(false);
            }
        }
    }
    txn.commit()?;
    Ok(true)
}

/// One job in its own durable transaction (kept only when the job succeeded).
fn alone(db: &Database, job: &mut dyn Queued) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    if job.apply(&WriteTx::new(&txn)) {
        txn.commit()?;
    }
    Ok(())
}
