//! The application: configuration plus the services, built once and shared behind an `Arc`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::accounts::{Accounts, AccountsError};
use crate::blobs::LocalBlobs;
use crate::config::Config;
use crate::files::Files;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another Hearth process is using {0}; stop it, or run this command while it runs (it is then asked over its control socket)"
    )]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
}

pub struct App {
    pub config: Config,
    pub data_dir: PathBuf,
    pub store: Arc<Store>,
    pub accounts: Arc<Accounts>,
    pub blobs: Arc<LocalBlobs>,
    pub files: Files,
    pub groupware: Arc<crate::groupware::Groupware>,
    pub notify: Arc<crate::notify::Notify>,
    /// The HTTPS port actually bound (for redirects from plain HTTP).
    pub https_port: std::sync::OnceLock<u16>,
    /// The local-CA certificate being served, when HTTPS uses the local CA.
    pub tls_slot: std::sync::OnceLock<Arc<crate::appliance::tls::CertSlot>>,
    /// The mDNS announcer, when enabled (its current name is shown to people).
    pub mdns:
        std::sync::OnceLock<std::sync::Mutex<Option<Arc<dyn crate::appliance::mdns::Announcer>>>>,
    /// The last warnings and errors, for the system page.
    pub recent_errors: crate::telemetry::RecentErrors,
    /// ACME challenges in flight and the renewal loop's wake-up.
    pub acme: Arc<crate::appliance::acme::Challenges>,
}

impl App {
    pub fn open(data_dir: &Path, config: Config) -> Result<App, StartError> {
        create_private_dir(data_dir)?;
        // Absolute from here on: paths are reported to clients and the process may chdir.
        let data_dir = &std::fs::canonicalize(data_dir).map_err(|source| StartError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let db_path = data_dir.join("hearth.redb");
        let store = match Store::open_with_cache(
            &db_path,
            config.limits.store_cache_mib.max(1) * 1024 * 1024,
            &crate::schema::SCHEMA,
        ) {
            Err(StoreError::Open {
                source: redb::DatabaseError::DatabaseAlreadyOpen,
                ..
            }) => {
                return Err(StartError::Busy(db_path.display().to_string()));
            }
            other => Arc::new(other?),
        };
        let blobs =
            LocalBlobs::open(&data_dir.join("blobs")).map_err(|source| StartError::DataDir {
                path: data_dir.join("blobs").display().to_string(),
                source,
            })?;
        let blobs = Arc::new(blobs);
        let accounts = Arc::new(Accounts::new(store.clone(), blobs.clone(), &config.auth)?);
        let files = Files::new(store.clone(), blobs.clone());
        let groupware = Arc::new(crate::groupware::Groupware::new(
            store.clone(),
            config.limits.max_dav_object_bytes,
        ));
        let notify = Arc::new(crate::notify::Notify::new(
            store.clone(),
            config.mail.clone(),
        ));
        Ok(App {
            files,
            config,
            data_dir: data_dir.to_owned(),
            store,
            accounts,
            blobs,
            groupware,
            notify,
            https_port: std::sync::OnceLock::new(),
            tls_slot: std::sync::OnceLock::new(),
            mdns: std::sync::OnceLock::new(),
            recent_errors: crate::telemetry::RecentErrors::default(),
            acme: Arc::default(),
        })
    }
}

impl App {
    /// Shares the log's recent-errors ring with the system page.
    #[must_use]
    pub fn with_recent_errors(mut self, recent: crate::telemetry::RecentErrors) -> Self {
        self.recent_errors = recent;
        self
    }
}

/// The data directory holds password hashes and the family's files: owner-only.
fn create_private_dir(dir: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(err)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}
