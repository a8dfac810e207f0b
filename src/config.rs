//! One typed configuration, layered: built-in defaults → `DATA/hearth.toml` → `HEARTH_*`
//! environment → command-line flags. Unknown keys and bad values stop the start with a message
//! that names the key (and the line, for the file); Hearth never guesses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub mdns: MdnsConfig,
    pub mail: MailConfig,
    pub groupware: GroupwareConfig,
    pub acme: AcmeConfig,
}

/// A publicly trusted certificate through ACME (`appliance::acme`). Set here or on the system
/// page; this section wins when `directory` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// The ACME directory URL (`letsencrypt` and `letsencrypt-staging` are shorthands);
    /// empty: off.
    pub directory: String,
    /// The public names the certificate is for (they must reach this box).
    pub domains: Vec<String>,
    /// Contact address given to the ACME server (expiry warnings); may be empty.
    pub email: String,
    /// `http-01` (port 80 reachable from the Internet), `tls-alpn-01` (port 443) or `dns-01`
    /// (a TXT record through dynamic DNS updates: no open port).
    pub challenge: String,
    /// DNS-01: the primary DNS server taking RFC 2136 updates, `host[:port]`.
    pub dns_server: String,
    /// DNS-01: the TSIG key, `hmac-sha256:NAME:BASE64SECRET` (as `nsupdate -y` takes it).
    pub dns_key: String,
    /// DNS-01: seconds to wait after the update before asking for validation (for the
    /// provider's other servers to catch up).
    pub dns_wait_secs: u64,
    /// PEM file with extra roots to trust for the directory's HTTPS (a private ACME server).
    pub ca_file: String,
    /// Seconds before the first retry after a failed attempt (doubling up to 6 hours).
    pub retry_secs: u64,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            directory: String::new(),
            domains: Vec::new(),
            email: String::new(),
            challenge: "http-01".into(),
            dns_server: String::new(),
            dns_key: String::new(),
            dns_wait_secs: 30,
            ca_file: String::new(),
            retry_secs: 300,
        }
    }
}

/// Calendars and contacts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupwareConfig {
    /// How often subscribed calendars (outside iCal links) are fetched again, in seconds.
    pub subscription_refresh_secs: u64,
    /// Largest subscribed calendar fetched, in bytes.
    pub max_subscription_bytes: usize,
}

impl Default for GroupwareConfig {
    fn default() -> Self {
        GroupwareConfig {
            subscription_refresh_secs: 7 * 24 * 3600,
            max_subscription_bytes: 20 * 1024 * 1024,
        }
    }
}

/// The SMTP server mail goes out through (reminders, invitations, the test mail).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Host name or IP address; empty = no mail is sent.
    pub host: String,
    pub port: u16,
    /// `starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (loopback relays only).
    pub security: String,
    pub username: String,
    pub password: String,
    /// The sender, e.g. `Hearth <hearth@example.org>`.
    pub from: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            host: String::new(),
            port: 587,
            security: "starttls".into(),
            username: String::new(),
            password: String::new(),
            from: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MdnsConfig {
    /// Announce `NAME.local` and the DAV services on the local network (the image turns this
    /// on; off by default so a developer's machine does not advertise itself).
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Plain HTTP listener; empty string disables it.
    pub http: String,
    /// HTTPS listener; empty string disables it. Without `tls_cert`/`tls_key` the box's own
    /// local certificate authority issues the certificate.
    pub https: String,
    /// PEM certificate chain for HTTPS (empty: use the local certificate authority).
    pub tls_cert: String,
    /// PEM private key for HTTPS.
    pub tls_key: String,
    /// Extra DNS names the local-CA certificate should cover (besides NAME.local).
    pub tls_extra_names: Vec<String>,
    /// Seconds to let running requests finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request head (request line + headers) in bytes; larger gets 431.
    pub max_header_bytes: usize,
    /// Largest non-file request body (forms, JSON, XML) in bytes; larger gets 413.
    pub max_body_bytes: usize,
    /// Seconds a client may take to send a request head (slow-loris guard).
    pub header_read_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept open.
    pub idle_timeout_secs: u64,
    /// Seconds without a byte of request body before the request is abandoned with 408.
    pub body_read_timeout_secs: u64,
    /// Simultaneous connections; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// MiB of metadata pages kept in memory (redb's page cache).
    pub store_cache_mib: usize,
    /// Largest calendar object or vCard, in bytes (CalDAV/CardDAV `max-resource-size`).
    pub max_dav_object_bytes: usize,
    /// Memory budget in MiB that bounds threads, connections, password hashing and caches
    /// (`Config::apply_memory_budget`); 0 = an eighth of the RAM, between 32 and 256.
    pub memory_mib: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// argon2id memory cost in KiB (OWASP's 19 MiB floor by default).
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    pub argon2_iterations: u32,
    /// Password hashes computed at once (each holds `argon2_memory_kib`).
    pub argon2_concurrency: usize,
    /// Cache verified Basic-auth credentials in memory (keyed HMAC, never the secret).
    pub credential_cache: bool,
    /// Seconds a verified credential stays cached.
    pub credential_cache_ttl_secs: u64,
    /// Most cached credentials.
    pub credential_cache_entries: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `hearth=debug`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http: "127.0.0.1:8080".into(),
            https: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_extra_names: Vec::new(),
            shutdown_grace_secs: 10,
        }
    }
}
impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_header_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
            header_read_timeout_secs: 20,
            idle_timeout_secs: 60,
            body_read_timeout_secs: 60,
            max_connections: 512,
            store_cache_mib: 2,
            max_dav_object_bytes: 10_000_000,
            memory_mib: 0,
        }
    }
}
impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_concurrency: 2,
            credential_cache: true,
            credential_cache_ttl_secs: 300,
            credential_cache_entries: 4096,
        }
    }
}
impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// Command-line values that override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub http: Option<String>,
    pub https: Option<String>,
}

/// What the memory budget allows (low-memory mode); see `Config::apply_memory_budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub mib: u64,
    /// The machine's RAM, MiB (0 when unknown).
    pub ram_mib: u64,
    pub worker_threads: usize,
    pub blocking_threads: usize,
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} MiB (RAM {} MiB): {} worker thread{}, {} blocking",
            self.mib,
            self.ram_mib,
            self.worker_threads,
            if self.worker_threads == 1 { "" } else { "s" },
            self.blocking_threads
        )
    }
}

/// The machine's RAM from /proc/meminfo, MiB (0 when unknown).
pub fn total_ram_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

impl Config {
    /// Low-memory mode: bounds what grows with load by a memory budget (`limits.memory_mib`,
    /// by default an eighth of the RAM: 64 MiB on a 512 MiB board, 128 on a 1 GiB Pi, at most
    /// 256). Each figure only ever comes down from what is configured:
    /// - password hashes at once: each holds `argon2_memory_kib`, at most a quarter of the budget;
    /// - connections: about 256 KiB each at worst (buffers, TLS), four per MiB;
    /// - the metadata cache: a sixteenth of the budget;
    /// - threads: one async worker below 96 MiB (else two), blocking threads budget/16 in 2..8.
    ///
    /// Uploads and downloads stream through fixed small buffers whatever the budget; Hearth
    /// makes no previews, so there is no preview work to bound.
    pub fn apply_memory_budget(&mut self, ram_mib: u64) -> Budget {
        let mib = match self.limits.memory_mib {
            0 if ram_mib == 0 => 128,
            0 => (ram_mib / 8).clamp(32, 256),
            m => m.max(16),
        };
        let argon2_mib = (self.auth.argon2_memory_kib / 1024).max(1) as u64;
        let hashes = usize::try_from((mib / 4 / argon2_mib).max(1)).unwrap_or(1);
        self.auth.argon2_concurrency = self.auth.argon2_concurrency.clamp(1, hashes);
        let conns = usize::try_from(mib * 4).unwrap_or(usize::MAX);
        self.limits.max_connections = self.limits.max_connections.min(conns).max(16);
        let cache = usize::try_from((mib / 16).max(1)).unwrap_or(1);
        self.limits.store_cache_mib = self.limits.store_cache_mib.min(cache).max(1);
        Budget {
            mib,
            ram_mib,
            worker_threads: if mib < 96 { 1 } else { 2 },
            blocking_threads: usize::try_from((mib / 16).clamp(2, 8)).unwrap_or(2),
        }
    }

    /// Builds the configuration for a data directory, in layer order.
    pub fn load(data: &Path, flags: &Overrides) -> Result<Config, ConfigError> {
        Self::load_with_env(data, flags, std::env::vars())
    }

    pub fn load_with_env(
        data: &Path,
        flags: &Overrides,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let path = data.join("hearth.toml");
        let mut cfg = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Config>(&text).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        cfg.apply_env(env)?;
        if let Some(h) = &flags.http {
            cfg.server.http.clone_from(h);
        }
        if let Some(h) = &flags.https {
            cfg.server.https.clone_from(h);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// `HEARTH_SECTION_KEY=value` sets `[section] key`. `HEARTH_DATA` is the data directory
    /// (handled by the CLI), not a setting.
    fn apply_env(
        &mut self,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let mut root =
            toml::Value::try_from(&*self).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut touched = false;
        let mut ignored = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix("HEARTH_") else {
                continue;
            };
            if rest == "DATA" {
                continue;
            }
            let lower = rest.to_ascii_lowercase();
            let Some((section, key)) = lower.split_once('_') else {
                return Err(ConfigError::Env {
                    var,
                    message: "not a known setting".into(),
                });
            };
            // Variables outside our sections (HEARTH_BIN in a test script, say) are not ours;
            // a typo inside a known section is, and stops the start.
            let Some(table) = root.get_mut(section).and_then(toml::Value::as_table_mut) else {
                ignored.push(var);
                continue;
            };
            let Some(old) = table.get(key) else {
                return Err(ConfigError::Env {
                    var,
                    message: format!("no key {key:?} in [{section}]"),
                });
            };
            let new = match old {
                toml::Value::Integer(_) => value
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| ConfigError::Env {
                        var: var.clone(),
                        message: format!("{value:?} is not a whole number"),
                    })?,
                toml::Value::Boolean(_) => match value.trim() {
                    "true" | "1" | "yes" => toml::Value::Boolean(true),
                    "false" | "0" | "no" => toml::Value::Boolean(false),
                    _ => {
                        return Err(ConfigError::Env {
                            var,
                            message: format!("{value:?} is not true or false"),
                        });
                    }
                },
                _ => toml::Value::String(value),
            };
            table.insert(key.to_owned(), new);
            touched = true;
        }
        if !ignored.is_empty() {
            eprintln!(
                "hearth: ignoring environment variables that name no setting: {}",
                ignored.join(", ")
            );
        }
        if touched {
            *self = root
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid(format!("environment: {e}")))?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let addr = |key: &str, v: &str| -> Result<(), ConfigError> {
            if v.is_empty() || v.parse::<SocketAddr>().is_ok() {
                Ok(())
            } else {
                Err(ConfigError::Invalid(format!(
                    "server.{key} = {v:?} is not an address like 127.0.0.1:8080 or [::]:443"
                )))
            }
        };
        addr("http", &self.server.http)?;
        addr("https", &self.server.https)?;
        if self.server.tls_cert.is_empty() != self.server.tls_key.is_empty() {
            return Err(ConfigError::Invalid(
                "server.tls_cert and server.tls_key go together: set both, or neither to use the local certificate authority".into(),
            ));
        }
        if self.server.http.is_empty() && self.server.https.is_empty() {
            return Err(ConfigError::Invalid(
                "both server.http and server.https are empty: nothing to listen on".into(),
            ));
        }
        if self.limits.max_header_bytes < 8192 {
            return Err(ConfigError::Invalid(
                "limits.max_header_bytes must be at least 8192".into(),
            ));
        }
        if self.limits.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "limits.max_connections must be at least 1".into(),
            ));
        }
        if !(8..=1024 * 1024).contains(&self.auth.argon2_memory_kib)
            || self.auth.argon2_iterations == 0
        {
            return Err(ConfigError::Invalid(
                "auth.argon2_memory_kib must be 8..=1048576 and auth.argon2_iterations at least 1"
                    .into(),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(
                "log.format must be \"text\" or \"json\"".into(),
            ));
        }
        Ok(())
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.server.http.parse().ok()
    }
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.server.https.parse().ok()
    }
}

/// The data directory from a flag, `HEARTH_DATA`, or `./hearth-data`.
pub fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("HEARTH_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("hearth-data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_error_names_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hearth.toml"),
            "[server]\nhttp = \"127.0.0.1:1\"\n\n[limits]\nmax_conections = 3\n",
        )
        .unwrap();
        let err = Config::load_with_env(dir.path(), &Overrides::default(), std::iter::empty())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_conections") && err.contains("line 5"),
            "{err}"
        );
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hearth.toml"),
            "[server]\nhttp = \"127.0.0.1:1\"\n[limits]\nmax_connections = 3\n",
        )
        .unwrap();
        let env = vec![("HEARTH_LIMITS_MAX_CONNECTIONS".to_string(), "7".to_string())];
        let flags = Overrides {
            http: Some("127.0.0.1:2".into()),
            https: None,
        };
        let cfg = Config::load_with_env(dir.path(), &flags, env.into_iter()).unwrap();
        assert_eq!(cfg.limits.max_connections, 7);
        assert_eq!(cfg.server.http, "127.0.0.1:2");
    }

    #[test]
    fn bad_env_value_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![(
            "HEARTH_AUTH_CREDENTIAL_CACHE".to_string(),
            "maybe".to_string(),
        )];
        let err = Config::load_with_env(dir.path(), &Overrides::default(), env.into_iter())
            .unwrap_err()
            .to_string();
        assert!(err.contains("HEARTH_AUTH_CREDENTIAL_CACHE"), "{err}");
    }

    #[test]
    fn memory_budget_bounds_what_grows() {
        let mut small = Config::default();
        let b = small.apply_memory_budget(512);
        assert_eq!((b.mib, b.worker_threads, b.blocking_threads), (64, 1, 4));
        assert_eq!(
            small.auth.argon2_concurrency, 1,
            "19 MiB hashes in a 64 MiB budget"
        );
        assert_eq!(small.limits.max_connections, 256);
        assert_eq!(small.limits.store_cache_mib, 2);
        let mut pi = Config::default();
        let b = pi.apply_memory_budget(1024);
        assert_eq!((b.mib, b.worker_threads), (128, 2));
        assert_eq!(pi.auth.argon2_concurrency, 1);
        let mut big = Config::default();
        let b = big.apply_memory_budget(24 * 1024);
        assert_eq!(b.mib, 256, "never more than 256 MiB by default");
        assert_eq!(
            big.auth.argon2_concurrency, 2,
            "never above what is configured"
        );
        assert_eq!(big.limits.max_connections, 512);
        let mut tiny = Config::default();
        tiny.limits.memory_mib = 32;
        let b = tiny.apply_memory_budget(24 * 1024);
        assert_eq!((b.mib, b.worker_threads, b.blocking_threads), (32, 1, 2));
        assert_eq!(tiny.limits.max_connections, 128);
        assert_eq!(tiny.limits.store_cache_mib, 2);
    }
}
