//! The metadata store: redb behind typed tables.
//!
//! Owns durability and atomicity of metadata; knows nothing about users, shares or HTTP, nor
//! which tables exist: their registry and the data steps of migrations are `crate::schema`,
//! one layer up, handed in at open as a [`Schema`].
//! Values are encoded as one version byte followed by JSON (see [`Record`]), so a record
//! written by an older Hearth is migrated lazily when read.

mod commit;
pub use commit::Expected;
mod migrate;

use std::cell::RefCell;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use migrate::{Schema, Step};

/// Plain string settings: `schema_version`, `instance_id`, `installed`, `box_name`, id counters.
pub const META: TableDefinition<'static, &'static str, &'static str> = TableDefinition::new("meta");

impl Record for String {}
impl Record for Vec<String> {}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    #[error("record in table {table} under key {key:?} cannot be decoded: {reason}")]
    Corrupt {
        table: &'static str,
        key: String,
        reason: String,
    },
    #[error("the write could not be made durable: {0}")]
    NotDurable(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error(
        "the data directory was written by a newer Hearth (schema {found}, this build knows {known}); refusing to open it"
    )]
    TooNew { found: u32, known: u32 },
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: redb::DatabaseError,
    },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.into()) }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A store failure is never the client's doing.
impl crate::error::Categorized for StoreError {
    fn category(&self) -> crate::error::Category {
        crate::error::Category::Internal
    }
}

/// A value kept in a table. `VERSION` is written before the JSON; reading an older version
/// goes through `migrate`, so old records need no stop-the-world rewrite on an SD card.
pub trait Record: Serialize + DeserializeOwned {
    const VERSION: u8 = 1;
    fn migrate(version: u8, _value: serde_json::Value) -> Result<Self, String> {
        Err(format!("no migration from record version {version}"))
    }

    /// Writes the value after its version byte: JSON unless a record has a tighter form (file
    /// nodes are read tens of thousands of times per listing, see `files::model`).
    fn encode_body(&self, out: &mut Vec<u8>) {
        // Serializing our own plain structs to a Vec cannot fail.
        let _ = serde_json::to_writer(out, self);
    }

    /// Reads a value written with `version`; older versions go through `migrate`.
    fn decode_body(version: u8, body: &[u8]) -> Result<Self, String> {
        if version == Self::VERSION {
            serde_json::from_slice(body).map_err(|e| e.to_string())
        } else {
            let value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            Self::migrate(version, value)
        }
    }
}

/// A typed table: string keys (composite keys join their parts with `\0`, documented where
/// each table is declared) and versioned JSON values.
pub struct Table<V> {
    def: TableDefinition<'static, &'static str, &'static [u8]>,
    name: &'static str,
    _value: PhantomData<fn() -> V>,
}

impl<V: Record> Table<V> {
    pub const fn new(name: &'static str) -> Self {
        Table {
            def: TableDefinition::new(name),
            name,
            _value: PhantomData,
        }
    }

    /// The table's name in the database.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// redb's definition, for migration steps that work on the transaction directly.
    pub const fn definition(&self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        self.def
    }

    /// Decodes a stored value (migration steps reading tables they then drop).
    pub fn decode(&self, key: &str, bytes: &[u8]) -> Result<V> {
        let corrupt = |reason: String| StoreError::Corrupt {
            table: self.name,
            key: key.to_owned(),
            reason,
        };
        let (&version, body) = bytes
            .split_first()
            .ok_or_else(|| corrupt("empty value".into()))?;
        V::decode_body(version, body).map_err(corrupt)
    }

    /// Encodes a value as this table stores it.
    pub fn encode(value: &V) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(V::VERSION);
        value.encode_body(&mut out);
        out
    }
}

/// A table of raw bytes (content kept as sent, e.g. iCalendar objects): no JSON framing, so a
/// read hands the bytes back without decoding.
pub struct RawTable {
    def: TableDefinition<'static, &'static str, &'static [u8]>,
}

impl RawTable {
    pub const fn new(name: &'static str) -> Self {
        RawTable {
            def: TableDefinition::new(name),
        }
    }

    /// redb's definition, for migration steps that work on the transaction directly.
    pub const fn definition(&self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        self.def
    }
}

/// The store handle. Cheap to share behind an `Arc`; redb allows one process per file.
pub struct Store {
    db: Arc<redb::Database>,
    /// Which reads may share a transaction (`read`).
    reads: Arc<SharedReads>,
    /// The group-commit thread, started by the first queued write (`write_queued`).
    committer: OnceLock<Result<commit::Committer, String>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        // Queued writes finish, and the thread lets go of the database file.
        if let Some(Ok(c)) = self.committer.get() {
            c.stop();
        }
    }
}

type ReadOnly = redb::ReadOnlyTable<&'static str, &'static [u8]>;

/// A read transaction shared by the reads that start while nothing has been written since
/// it began (see `Store::read`), with the tables opened in it so far.
pub struct ReadTx(Arc<Snapshot>);

/// Reads share a transaction until the next commit (`Store::read`).
#[derive(Default)]
pub(crate) struct SharedReads {
    generation: AtomicU64,
    current: Mutex<Option<Arc<Snapshot>>>,
}

impl SharedReads {
    /// Called after every commit, before anyone is told of it: later reads begin a new
    /// transaction, and the old one goes once its readers are done (an idle old snapshot would
    /// keep redb from reusing the pages later commits free).
    pub(crate) fn committed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

struct Snapshot {
    /// `Store::generation` when it began.
    generation: u64,
    tx: redb::ReadTransaction,
    tables: Mutex<Vec<(String, Arc<ReadOnly>)>>,
    meta: OnceLock<redb::ReadOnlyTable<&'static str, &'static str>>,
}

/// A typed table opened in a read transaction.
pub struct Opened<'a, V> {
    t: Arc<ReadOnly>,
    table: &'a Table<V>,
}

impl<V: Record> Opened<'_, V> {
    /// Like `scan`, but lends each stored value (version byte first) instead of decoding it.
    pub fn scan_bytes(
        &self,
        prefix: &str,
        after: Option<&str>,
        mut f: impl FnMut(&str, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        use std::ops::Bound;
        let range = match after {
            Some(a) => self
                .t
                .range::<&str>((Bound::Excluded(a), Bound::Unbounded))?,
            None => self
                .t
                .range::<&str>((Bound::Included(prefix), Bound::Unbounded))?,
        };
        for entry in range {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(prefix) || !f(key, v.value())? {
                break;
            }
        }
        Ok(())
    }

    /// Decodes a value lent by `scan_bytes`.
    pub fn decode(&self, key: &str, bytes: &[u8]) -> Result<V> {
        self.table.decode(key, bytes)
    }

    pub fn get(&self, key: &str) -> Result<Option<V>> {
        match self.t.get(key)? {
            Some(v) => self.table.decode(key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Visits records under `prefix` strictly after `after` (or from the start), in key order,
    /// until `f` returns false.
    pub fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        mut f: impl FnMut(&str, V) -> bool,
    ) -> Result<()> {
        use std::ops::Bound;
        let range = match after {
            Some(a) => self
                .t
                .range::<&str>((Bound::Excluded(a), Bound::Unbounded))?,
            None => self
                .t
                .range::<&str>((Bound::Included(prefix), Bound::Unbounded))?,
        };
        for entry in range {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(prefix) || !f(key, self.table.decode(key, v.value())?) {
                break;
            }
        }
        Ok(())
    }
}

/// A raw table opened in a read transaction; values are lent, not copied.
pub struct OpenedRaw(Arc<ReadOnly>);

impl OpenedRaw {
    /// Hands the value under `key` to `f` without copying it.
    pub fn with<T>(&self, key: &str, f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>> {
        Ok(self.0.get(key)?.map(|v| f(v.value())))
    }

    /// Visits values under `prefix` strictly after `after` (or from the start), in key
    /// order, until `f` returns false.
    pub fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        mut f: impl FnMut(&str, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        use std::ops::Bound;
        let range = match after {
            Some(a) => self
                .0
                .range::<&str>((Bound::Excluded(a), Bound::Unbounded))?,
            None => self
                .0
                .range::<&str>((Bound::Included(prefix), Bound::Unbounded))?,
        };
        for entry in range {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(prefix) || !f(key, v.value())? {
                break;
            }
        }
        Ok(())
    }
}
/// A write transaction as the closures of `Store::write` see it; tables stay open until it
/// ends.
pub struct WriteTx<'t> {
    txn: &'t redb::WriteTransaction,
    tables: RefCell<Vec<(String, Handle<'t>)>>,
    meta: RefCell<Option<redb::Table<'t, &'static str, &'static str>>>,
}

impl Store {
    /// Opens (or creates) the database file and runs the forward migrations of `schema`, with
    /// a 16 MiB page cache (tests and tools).
    pub fn open(path: &Path, schema: &Schema) -> Result<Store> {
        Self::open_with_cache(path, 16 * 1024 * 1024, schema)
    }

    /// Opens with a bounded page cache. redb's default is 1 GiB, so memory would follow how
    /// much metadata has been touched; on a 1 GB box the cache must be a budget.
    pub fn open_with_cache(path: &Path, cache_bytes: usize, schema: &Schema) -> Result<Store> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let store = Store {
            db: Arc::new(db),
            reads: Arc::new(SharedReads::default()),
            committer: OnceLock::new(),
        };
        migrate::run(&store, schema)?;
        Ok(store)
    }

    /// Runs `f` on a consistent view of the store. Reads that start while nothing has been
    /// committed since share one redb read transaction and the tables opened in it: beginning
    /// a transaction and opening its tables was a tenth of a small GET (perf). Every commit
    /// moves `generation` on before its writer is answered, so a client always reads what it
    /// was told is written.
    pub fn read<T>(&self, f: impl FnOnce(&ReadTx) -> Result<T>) -> Result<T> {
        let generation = self.reads.generation.load(Ordering::Acquire);
        let snapshot = {
            let mut current = self
                .reads
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match current.as_ref() {
                Some(s) if s.generation == generation => s.clone(),
                _ => {
                    let fresh = Arc::new(Snapshot {
                        generation,
                        tx: self.db.begin_read()?,
                        tables: Mutex::new(Vec::new()),
                        meta: OnceLock::new(),
                    });
                    *current = Some(fresh.clone());
                    fresh
                }
            }
        };
        f(&ReadTx(snapshot))
    }

    /// Runs `f` in one write transaction and commits it; nothing is written if `f` fails.
    /// Keep `f` short and free of I/O other than the store: redb has a single writer.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&WriteTx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let out = f(&WriteTx::new(&txn))?;
        txn.commit().map_err(StoreError::from)?;
        self.reads.committed();
        // The committing thread settles after this commit too (see `commit`); a store that
        // never queued a write (a command-line tool) has no such thread and needs none.
        if let Some(Ok(c)) = self.committer.get() {
            c.committed_elsewhere();
        }
        Ok(out)
    }

    /// Like `write`, for async code: the write runs on the group-commit thread (no async
    /// worker waits for an fsync, and writes queued together share one; see `commit`). `f`
    /// may run twice (when another write of its batch fails). Resolves once it is durable.
    pub async fn write_queued<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        F: Fn(&WriteTx) -> std::result::Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_queued_after(None, || Ok(()), f).await
    }

    /// `write_queued` once `ready` has returned (it runs on the committing thread, before the
    /// transaction begins: e.g. waiting for the fsync of the content the write points at).
    /// `expected` is what `expect_write` gave when the caller started on this write.
    pub async fn write_queued_after<T, E, R, F>(
        &self,
        expected: Option<commit::Expected>,
        ready: R,
        f: F,
    ) -> std::result::Result<T, E>
    where
        R: FnOnce() -> std::result::Result<(), E> + Send + 'static,
        F: Fn(&WriteTx) -> std::result::Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match self.committer() {
            Ok(c) => c.write(expected, ready, f).await,
            Err(why) => Err(E::from(StoreError::NotDurable(format!(
                "cannot start the database writer: {why}"
            )))),
        }
    }

    /// Says that a queued write is on its way (a small upload being written), so the batch
    /// being gathered waits a moment for it; pass the result to `write_queued_after`.
    pub fn expect_write(&self) -> Option<commit::Expected> {
        self.committer().ok().map(commit::Committer::expect)
    }

    fn committer(&self) -> std::result::Result<&commit::Committer, &str> {
        self.committer
            .get_or_init(|| {
                commit::Committer::start(self.db.clone(), self.reads.clone())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

impl ReadTx {
    /// The table, opened once per shared transaction.
    fn table(
        &self,
        def: TableDefinition<'static, &'static str, &'static [u8]>,
    ) -> Result<Arc<ReadOnly>> {
        use redb::TableHandle;
        let mut tables = self.0.tables.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, t)) = tables.iter().find(|(n, _)| n == def.name()) {
            return Ok(t.clone());
        }
        let t = Arc::new(self.0.tx.open_table(def)?);
        tables.push((def.name().to_owned(), t.clone()));
        Ok(t)
    }

    pub fn get<V: Record>(&self, table: &Table<V>, key: &str) -> Result<Option<V>> {
        let t = self.table(table.def)?;
        match t.get(key)? {
            Some(v) => table.decode(key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Visits records whose key starts with `prefix`, in key order, until `f` returns false.
    pub fn scan<V: Record>(
        &self,
        table: &Table<V>,
        prefix: &str,
        mut f: impl FnMut(&str, V) -> bool,
    ) -> Result<()> {
        let t = self.table(table.def)?;
        for entry in t.range(prefix..)? {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            if !f(key, table.decode(key, v.value())?) {
                break;
            }
        }
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        let t = match self.0.meta.get() {
            Some(t) => t,
            None => {
                let opened = self.0.tx.open_table(META)?;
                self.0.meta.get_or_init(|| opened)
            }
        };
        Ok(t.get(key)?.map(|v| v.value().to_owned()))
    }

    pub fn get_raw(&self, table: &RawTable, key: &str) -> Result<Option<Vec<u8>>> {
        let t = self.table(table.def)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    /// Visits raw records under `prefix` strictly after `after` (or from the start), in key
    /// order, until `f` returns false. The value is lent, not copied.
    pub fn scan_raw(
        &self,
        table: &RawTable,
        prefix: &str,
        after: Option<&str>,
        mut f: impl FnMut(&str, &[u8]) -> bool,
    ) -> Result<()> {
        use std::ops::Bound;
        let t = self.table(table.def)?;
        let range = match after {
            Some(a) => t.range::<&str>((Bound::Excluded(a), Bound::Unbounded))?,
            None => t.range::<&str>((Bound::Included(prefix), Bound::Unbounded))?,
        };
        for entry in range {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            if !f(key, v.value()) {
                break;
            }
        }
        Ok(())
    }

    /// Opens a typed table once for many lookups in this transaction (each `get` on the
    /// transaction itself opens the table again).
    pub fn open<'a, V: Record>(&self, table: &'a Table<V>) -> Result<Opened<'a, V>> {
        Ok(Opened {
            t: self.table(table.def)?,
            table,
        })
    }

    /// Opens a raw table once for many lookups in this transaction.
    pub fn open_raw(&self, table: &RawTable) -> Result<OpenedRaw> {
        Ok(OpenedRaw(self.table(table.def)?))
    }

    /// Like `scan`, but starting strictly after the key `after` (which must lie under
    /// `prefix`): paging through a long range costs only the page, not everything before it.
    pub fn scan_after<V: Record>(
        &self,
        table: &Table<V>,
        prefix: &str,
        after: &str,
        mut f: impl FnMut(&str, V) -> bool,
    ) -> Result<()> {
        use std::ops::Bound;
        let t = self.table(table.def)?;
        for entry in t.range::<&str>((Bound::Excluded(after), Bound::Unbounded))? {
            let (k, v) = entry?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            if !f(key, table.decode(key, v.value())?) {
                break;
            }
        }
        Ok(())
    }
}

type Handle<'t> = redb::Table<'t, &'static str, &'static [u8]>;

impl<'t> WriteTx<'t> {
    /// The redb transaction itself, for migration steps (creating, converting and dropping
    /// tables); everything else goes through the typed methods.
    pub fn redb(&self) -> &'t redb::WriteTransaction {
        self.txn
    }

    fn new(txn: &'t redb::WriteTransaction) -> Self {
        WriteTx {
            txn,
            tables: RefCell::new(Vec::new()),
            meta: RefCell::new(None),
        }
    }

    /// Runs `f` on the table, opened once per transaction: opening and closing a redb table
    /// for every get and put was most of the cost of a small upload's metadata (perf).
    fn with<R>(
        &self,
        def: TableDefinition<'static, &'static str, &'static [u8]>,
        f: impl FnOnce(&mut Handle<'t>) -> Result<R>,
    ) -> Result<R> {
        use redb::TableHandle;
        let mut tables = self.tables.borrow_mut();
        let i = match tables.iter().position(|(n, _)| *n == def.name()) {
            Some(i) => i,
            None => {
                tables.push((def.name().to_owned(), self.txn.open_table(def)?));
                tables.len() - 1
            }
        };
        f(&mut tables[i].1)
    }

    fn with_meta<R>(
        &self,
        f: impl FnOnce(&mut redb::Table<'t, &'static str, &'static str>) -> Result<R>,
    ) -> Result<R> {
        let mut meta = self.meta.borrow_mut();
        if meta.is_none() {
            *meta = Some(self.txn.open_table(META)?);
        }
        match meta.as_mut() {
            Some(t) => f(t),
            None => Err(StoreError::WriterGone),
        }
    }

    pub fn get<V: Record>(&self, table: &Table<V>, key: &str) -> Result<Option<V>> {
        self.with(table.def, |t| match t.get(key)? {
            Some(v) => table.decode(key, v.value()).map(Some),
            None => Ok(None),
        })
    }

    pub fn put<V: Record>(&self, table: &Table<V>, key: &str, value: &V) -> Result<()> {
        self.with(table.def, |t| {
            t.insert(key, Table::encode(value).as_slice())?;
            Ok(())
        })
    }

    pub fn get_raw(&self, table: &RawTable, key: &str) -> Result<Option<Vec<u8>>> {
        self.with(table.def, |t| Ok(t.get(key)?.map(|v| v.value().to_vec())))
    }

    pub fn put_raw(&self, table: &RawTable, key: &str, value: &[u8]) -> Result<()> {
        self.with(table.def, |t| {
            t.insert(key, value)?;
            Ok(())
        })
    }

    pub fn delete_raw(&self, table: &RawTable, key: &str) -> Result<bool> {
        self.with(table.def, |t| Ok(t.remove(key)?.is_some()))
    }

    /// Removes every record whose key starts with `prefix`; returns how many.
    pub fn delete_prefix<V: Record>(&self, table: &Table<V>, prefix: &str) -> Result<usize> {
        self.with(table.def, |t| remove_prefix(t, prefix))
    }

    /// `delete_prefix` for a raw table.
    pub fn delete_prefix_raw(&self, table: &RawTable, prefix: &str) -> Result<usize> {
        self.with(table.def, |t| remove_prefix(t, prefix))
    }

    /// Removes a record; returns whether it existed.
    pub fn delete<V: Record>(&self, table: &Table<V>, key: &str) -> Result<bool> {
        self.with(table.def, |t| Ok(t.remove(key)?.is_some()))
    }

    /// Collects the records under `prefix` with their keys.
    pub fn records<V: Record>(&self, table: &Table<V>, prefix: &str) -> Result<Vec<(String, V)>> {
        self.with(table.def, |t| {
            let mut out = Vec::new();
            for entry in t.range(prefix..)? {
                let (k, v) = entry?;
                let key = k.value();
                if !key.starts_with(prefix) {
                    break;
                }
                out.push((key.to_owned(), table.decode(key, v.value())?));
            }
            Ok(out)
        })
    }

    /// Collects the keys under `prefix` (used for small per-owner families like app passwords).
    pub fn keys<V: Record>(&self, table: &Table<V>, prefix: &str) -> Result<Vec<String>> {
        self.with(table.def, |t| keys_under(t, prefix))
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with_meta(|t| Ok(t.get(key)?.map(|v| v.value().to_owned())))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with_meta(|t| {
            t.insert(key, value)?;
            Ok(())
        })
    }

    /// A monotonic counter kept in META; ids from it are never reused.
    pub fn next_id(&self, counter: &str) -> Result<u64> {
        let next = self
            .meta(counter)?
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        self.set_meta(counter, &next.to_string())?;
        Ok(next)
    }
}

fn keys_under(t: &Handle<'_>, prefix: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in t.range(prefix..)? {
        let (k, _) = entry?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push(k.value().to_owned());
    }
    Ok(out)
}

fn remove_prefix(t: &mut Handle<'_>, prefix: &str) -> Result<usize> {
    let keys = keys_under(t, prefix)?;
    for k in &keys {
        t.remove(k.as_str())?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads share a transaction only until the next commit: every read sees every write that
    /// was acknowledged before it began, through either kind of write.
    #[tokio::test]
    async fn reads_see_every_write_made_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb"), &Schema { steps: &[] }).unwrap();
        let get = |s: &Store| s.read(|tx| tx.meta("x")).unwrap();
        assert_eq!(get(&store), None);
        let held = store.read(|tx| Ok(ReadTx(tx.0.clone()))).unwrap();
        store.write(|tx| tx.set_meta("x", "1")).unwrap();
        assert_eq!(get(&store).as_deref(), Some("1"));
        store
            .write_queued(|tx| tx.set_meta("x", "2"))
            .await
            .unwrap();
        assert_eq!(get(&store).as_deref(), Some("2"));
        // A read that began before the writes keeps its consistent view.
        assert_eq!(held.meta("x").unwrap(), None);
        // A failed write commits nothing and leaves the shared view as it was.
        let failed: Result<(), StoreError> = store
            .write_queued(|tx| {
                tx.set_meta("x", "3")?;
                Err(StoreError::WriterGone)
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(get(&store).as_deref(), Some("2"));
    }
}
