//! First-start setup: the claim code and the wizard's progress.
//!
//! Threat: on a shared network a neighbour could open `http://hearth.local` first and make
//! themselves administrator (the appliances we studied let whoever comes first win). Hearth
//! shows a claim code on the console, writes it to `DATA/claim-code` (the image copies it to
//! the boot partition) and prints it in `hearth serve`'s log; the wizard starts only for
//! someone who types it, from a local address, with guesses throttled. See docs/security.md.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::accounts::sha256_hex;
use crate::store::{Store, StoreError};

/// Unambiguous characters (no 0/O, 1/I/L): the code is read off a screen and typed on a phone.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// 0 claimed, 1 admin created, 2 family done, 3 place done (mail next).
    pub step: u8,
    pub box_name: String,
    pub admin: String,
    pub family: Vec<String>,
    /// Family members invited with a one-time link instead of a password: (login, link).
    #[serde(default)]
    pub invites: Vec<(String, String)>,
    pub timezone: String,
    /// The mail server as typed so far (kept across a test mail and a reload).
    #[serde(default)]
    pub mail: crate::config::MailConfig,
    /// Where the test mail went.
    #[serde(default)]
    pub mail_test_to: String,
    /// The outcome of the last test mail, shown on the mail page.
    #[serde(default)]
    pub mail_note: String,
    /// The disk the data is being moved to (the box restarts to do it), until the move's
    /// outcome is read (`appliance::storage`).
    #[serde(default)]
    pub moving_to: String,
    /// Where the data ended up, once moved ("USB disk …, 32.0 GB (sda)").
    #[serde(default)]
    pub storage_note: String,
    /// A public name with an ACME certificate, if chosen (saved when the wizard ends).
    #[serde(default)]
    pub acme: Option<crate::config::AcmeConfig>,
}

pub fn claim_code_path(data: &Path) -> PathBuf {
    data.join("claim-code")
}

/// The current claim code, created on first call (file mode 0600).
pub fn claim_code(data: &Path) -> std::io::Result<String> {
    let path = claim_code_path(data);
    if let Ok(c) = std::fs::read_to_string(&path) {
        let c = c.trim().to_owned();
        if c.len() == 9 {
            return Ok(c);
        }
    }
    write_new_code(&path)
}

/// A fresh `XXXX-XXXX` code written to `path` (mode 0600, synced).
fn write_new_code(path: &Path) -> std::io::Result<String> {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let raw: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    let code = format!("{}-{}", &raw[..4], &raw[4..]);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{code}\n").as_bytes())?;
    f.sync_all()?;
    Ok(code)
}

/// How long a recovery code stays usable.
pub const RECOVERY_CODE_SECS: u64 = 24 * 3600;

pub fn recovery_code_path(data: &Path) -> PathBuf {
    data.join("recovery-code")
}

/// A new recovery code (replacing any earlier one): with it, whoever has the box's card can
/// give an administrator a new password at `/recover` (docs/security.md). The image makes one
/// when `reset-password.txt` is on the boot partition.
pub fn new_recovery_code(data: &Path) -> std::io::Result<String> {
    write_new_code(&recovery_code_path(data))
}

/// The pending recovery code, if one was made less than a day ago (an older one is removed).
pub fn recovery_code(data: &Path) -> Option<String> {
    let path = recovery_code_path(data);
    let age = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()?
        .elapsed()
        .unwrap_or_default();
    if age.as_secs() > RECOVERY_CODE_SECS {
        let _ = std::fs::remove_file(&path);
        return None;
    }
    let c = std::fs::read_to_string(&path).ok()?.trim().to_owned();
    (c.len() == 9).then_some(c)
}

/// Compares what someone typed with the code (case, spaces and dashes do not matter).
pub fn code_matches(typed: &str, code: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>()
    };
    let (a, b) = (norm(typed), norm(code));
    // Compare digests so the time taken does not depend on where the first difference is.
    !a.is_empty() && sha256_hex(&a) == sha256_hex(&b)
}

/// Only addresses on the home network may run the wizard: loopback, private, link-local,
/// unique-local (X-Forwarded-For is never trusted for this).
pub fn is_local(ip: IpAddr) -> bool {
    crate::appliance::tls::permitted_ip(&ip)
}

pub fn progress(store: &Store) -> Result<Option<Progress>, StoreError> {
    let raw = store.read(|tx| tx.meta("wizard_progress"))?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

pub fn save_progress(store: &Store, p: &Progress) -> Result<(), StoreError> {
    let raw = serde_json::to_string(p).unwrap_or_default();
    store.write(|tx| tx.set_meta("wizard_progress", &raw))
}

/// The wizard's session: a random cookie whose digest is kept, so a reload or a reboot
/// resumes where the family left off (only in the browser that claimed the box).
pub fn start_session(store: &Store) -> Result<String, StoreError> {
    let token = crate::accounts::random_token(40);
    let digest = sha256_hex(&token);
    store.write(|tx| tx.set_meta("wizard_session", &digest))?;
    Ok(token)
}

pub fn session_valid(store: &Store, token: &str) -> bool {
    store
        .read(|tx| tx.meta("wizard_session"))
        .ok()
        .flatten()
        .is_some_and(|d| d == sha256_hex(token))
}

/// Ends the wizard for good: no session, no claim code.
pub fn finish(store: &Store, data: &Path) -> Result<(), StoreError> {
    store.write(|tx| {
        tx.set_meta("wizard_session", "")?;
        tx.set_meta("wizard_progress", "")
    })?;
    let _ = std::fs::remove_file(claim_code_path(data));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let dir = tempfile::tempdir().unwrap();
        let c = claim_code(dir.path()).unwrap();
        assert_eq!(c, claim_code(dir.path()).unwrap(), "stable across calls");
        assert!(code_matches(&c.to_lowercase().replace('-', " "), &c));
        assert!(!code_matches("AAAA-AAAA", &c));
        assert!(!code_matches("", &c));
        assert!(is_local("192.168.1.9".parse().unwrap()) && is_local("::1".parse().unwrap()));
        assert!(!is_local("8.8.8.8".parse().unwrap()));
    }
}
