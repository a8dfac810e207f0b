//! Schema bookkeeping, the generic half: the schema version in `meta`, and forward migrations
//! run at open, before any service touches the store. Which tables exist and what each step
//! does to them is the business of the layer above (`crate::schema`), which hands its steps in
//! as a [`Schema`].

use super::{META, Result, Store, StoreError, WriteTx};

/// One forward migration, from schema `n` to `n + 1`, inside the opening transaction.
pub type Step = fn(&WriteTx) -> Result<()>;

/// The schema a build writes: `steps[n]` migrates schema `n` to `n + 1`, so the version is
/// the number of steps.
pub struct Schema {
    pub steps: &'static [Step],
}

impl Schema {
    pub const fn version(&self) -> u32 {
        self.steps.len() as u32
    }
}

pub(super) fn run(store: &Store, schema: &Schema) -> Result<()> {
    let known = schema.version();
    store.write(|tx| {
        let found = match tx.txn.open_table(META) {
            Ok(t) => {
                use redb::ReadableTable;
                let v = t.get("schema_version")?.map(|v| v.value().to_owned());
                v.and_then(|s| s.parse::<u32>().ok()).unwrap_or(0)
            }
            Err(e) => return Err(StoreError::from(e)),
        };
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        for (from, step) in schema.steps.iter().enumerate().skip(found as usize) {
            step(tx)?;
            tracing::info!(from, to = from + 1, "store schema migrated");
        }
        tx.set_meta("schema_version", &known.to_string())
    })
}
