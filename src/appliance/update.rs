//! Signed update bundles, installed into the inactive A/B slot of the image's boot partition
//! and booted once; `/init` commits the new slot after Hearth answers for a while, or falls
//! back (docs/image.md, "Updates with A/B slots").
//!
//! A bundle is a tar: `manifest.json` first, `manifest.sig` (Ed25519 over the manifest's exact
//! bytes) second, then the files the manifest lists with their size and SHA-256. The signature
//! is checked before anything is written; each file is hashed while it is written into
//! `slot-X.new/`, which only becomes `slot-X/` when every file matched. The running slot and
//! the boot selection are never touched by a bundle that fails a check.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The Ed25519 public key (64 hex digits) bundles must be signed with, baked in at build time
/// by scripts/build-release.sh. A build without one refuses every bundle.
pub const BUILD_KEY: Option<&str> = option_env!("HEARTH_UPDATE_PUBKEY");

/// `<data dir>/update-state`: key=value lines read by `/init` (busybox sh) too.
pub const STATE_FILE: &str = "update-state";
/// Where `/init` leaves the last log lines of a trial that failed.
pub const FAILED_LOG: &str = "update-failed.log";

const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
const MAX_FILES: usize = 64;

/// One install at a time: two would write the same staging directory.
static INSTALLING: Mutex<()> = Mutex::new(());

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "this Hearth was built without an update key, so it cannot check bundles; flash a new image instead"
    )]
    NoKey,
    #[error("this is not a Hearth update bundle: {0}")]
    NotABundle(String),
    #[error(
        "the bundle's signature is missing or does not match this box's update key; nothing was installed"
    )]
    BadSignature,
    #[error(
        "the bundle is damaged or was changed after it was signed ({0}); nothing was installed"
    )]
    Tampered(String),
    #[error(
        "the bundle holds version {bundle}, older than the running {running}; nothing was installed"
    )]
    Older { bundle: String, running: String },
    #[error(
        "this system has no A/B boot slots under {0}: updates install on the Hearth image only"
    )]
    NoSlots(String),
    #[error("an update is being installed or tried right now; try again once it is done")]
    Busy,
    #[error("the boot partition could not be written: {0}")]
    Io(#[from] io::Error),
}

impl UpdateError {
    /// Whether the bundle (not the box) is at fault: the HTTP surface answers 4xx.
    pub fn is_bundle_fault(&self) -> bool {
        matches!(
            self,
            UpdateError::NotABundle(_)
                | UpdateError::BadSignature
                | UpdateError::Tampered(_)
                | UpdateError::Older { .. }
        )
    }
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub product: String,
    pub arch: String,
    pub version: String,
    #[serde(default)]
    pub build: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn letter(self) -> char {
        match self {
            Slot::A => 'a',
            Slot::B => 'b',
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    fn parse(s: &str) -> Option<Slot> {
        match s {
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }
}

/// The boot partition (mounted at `dir`) and the slot the box booted from.
pub struct Boot {
    pub dir: PathBuf,
    pub current: Slot,
}

impl Boot {
    /// The running image's boot partition: the slot comes from `hearth.slot=` on the kernel
    /// command line, which only the image's boot entries set.
    pub fn detect(dir: &Path) -> Result<Boot, UpdateError> {
        let current =
            running_slot().ok_or_else(|| UpdateError::NoSlots(dir.display().to_string()))?;
        if !dir.join(format!("slot-{}", current.letter())).is_dir() {
            return Err(UpdateError::NoSlots(dir.display().to_string()));
        }
        Ok(Boot {
            dir: dir.to_owned(),
            current,
        })
    }

    fn slot_dir(&self, s: Slot) -> PathBuf {
        self.dir.join(format!("slot-{}", s.letter()))
    }
}

/// The slot named by `hearth.slot=` on the kernel command line, if any.
pub fn running_slot() -> Option<Slot> {
    let cmdline = fs::read_to_string("/proc/cmdline").ok()?;
    cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("hearth.slot="))
        .and_then(Slot::parse)
}

#[derive(Debug)]
pub struct Installed {
    pub slot: Slot,
    pub version: String,
    pub build: String,
}

/// The baked-in key, decoded.
pub fn build_key() -> Result<[u8; 32], UpdateError> {
    BUILD_KEY.and_then(decode_key).ok_or(UpdateError::NoKey)
}

fn decode_key(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Checks `bundle` against `key` and writes it into the inactive slot, then points the boot
/// selection at that slot and records the trial in `data_dir`. The caller reboots.
pub fn install(
    bundle: impl Read,
    key: &[u8; 32],
    boot: &Boot,
    data_dir: &Path,
    running_version: &str,
) -> Result<Installed, UpdateError> {
    let _one = INSTALLING.try_lock().map_err(|_| UpdateError::Busy)?;
    if let Some(s) = read_state(data_dir)
        && s.state == "trying"
    {
        return Err(UpdateError::Busy);
    }
    let target = boot.current.other();
    let installed = with_writable(&boot.dir, || {
        let staging = boot.dir.join(format!("slot-{}.new", target.letter()));
        let result = write_slot(bundle, key, boot, &staging, running_version);
        let m = match result {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        fs::rename(&staging, boot.slot_dir(target))?;
        write_loader_entry(boot, target)?;
        // The trial is recorded before the selection changes: a box that loses power in
        // between boots the old slot with a stale "trying" that /init clears.
        write_state(
            data_dir,
            &[
                ("state", "trying"),
                ("slot", &target.letter().to_string()),
                ("from", &boot.current.letter().to_string()),
                ("version", &m.version),
                ("build", &m.build),
                ("at", &unix_now().to_string()),
            ],
        )?;
        select(&boot.dir, target)?;
        Ok(Installed {
            slot: target,
            version: m.version,
            build: m.build,
        })
    })?;
    let _ = fs::remove_file(data_dir.join(FAILED_LOG));
    Ok(installed)
}

fn write_slot(
    bundle: impl Read,
    key: &[u8; 32],
    boot: &Boot,
    staging: &Path,
    running_version: &str,
) -> Result<Manifest, UpdateError> {
    let bad = |e: io::Error| UpdateError::NotABundle(format!("not a readable tar archive ({e})"));
    let mut archive = tar::Archive::new(bundle);
    let mut entries = archive.entries().map_err(bad)?;
    let mut small = |want: &str| -> Result<Vec<u8>, UpdateError> {
        let mut e = entries
            .next()
            .ok_or_else(|| UpdateError::NotABundle(format!("{want} is missing")))?
            .map_err(bad)?;
        let name = e.path().map_err(bad)?.to_string_lossy().into_owned();
        if name != want {
            return Err(UpdateError::NotABundle(format!(
                "expected {want} next, found {name:?}"
            )));
        }
        let mut out = Vec::new();
        e.by_ref()
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(bad)?;
        if out.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(UpdateError::NotABundle(format!("{want} is too large")));
        }
        Ok(out)
    };
    let manifest_bytes = small("manifest.json")?;
    let sig = small("manifest.sig").map_err(|_| UpdateError::BadSignature)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
        .verify(&manifest_bytes, &sig)
        .map_err(|_| UpdateError::BadSignature)?;
    let m: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| UpdateError::NotABundle(format!("manifest.json: {e}")))?;
    check_manifest(&m, running_version)?;

    // A signed bundle for this box replaces whatever the inactive slot held (an older version
    // or a failed one); removing it first leaves room for the new one on the partition.
    let dest = boot.slot_dir(boot.current.other());
    if dest.exists() {
        fs::remove_dir_all(&dest)?;
    }
    if staging.exists() {
        fs::remove_dir_all(staging)?;
    }
    fs::create_dir_all(staging)?;
    let mut seen = HashSet::new();
    for entry in entries {
        let mut e = entry.map_err(bad)?;
        if e.header().entry_type().is_dir() {
            continue;
        }
        let path = e.path().map_err(bad)?.to_string_lossy().into_owned();
        let f = m
            .files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| UpdateError::Tampered(format!("{path} is not in the manifest")))?;
        if !seen.insert(path.clone()) {
            return Err(UpdateError::Tampered(format!("{path} appears twice")));
        }
        let out = staging.join(&f.path);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut file = fs::File::create(&out)?;
        let mut hash = Sha256::new();
        let mut n = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let k = e.read(&mut buf).map_err(bad)?;
            if k == 0 {
                break;
            }
            n += k as u64;
            if n > f.size {
                return Err(UpdateError::Tampered(format!(
                    "{path} is larger than signed"
                )));
            }
            hash.update(&buf[..k]);
            file.write_all(&buf[..k])?;
        }
        let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if n != f.size || !digest.eq_ignore_ascii_case(&f.sha256) {
            return Err(UpdateError::Tampered(format!(
                "{path} does not match its signed checksum"
            )));
        }
        file.sync_all()?;
    }
    if let Some(f) = m.files.iter().find(|f| !seen.contains(&f.path)) {
        return Err(UpdateError::Tampered(format!("{} is missing", f.path)));
    }
    // The kernel command lines name their slot, so they come from the running slot rather than
    // from the bundle.
    for rel in ["cmdline.txt", "pi5/cmdline.txt"] {
        let from = boot.slot_dir(boot.current).join(rel);
        if let Ok(line) = fs::read_to_string(&from) {
            let to = staging.join(rel);
            if let Some(p) = to.parent() {
                fs::create_dir_all(p)?;
            }
            write_synced(&to, &retarget(&line, boot.current, boot.current.other()))?;
        }
    }
    Ok(m)
}

fn check_manifest(m: &Manifest, running_version: &str) -> Result<(), UpdateError> {
    let wrong = |what: String| Err(UpdateError::NotABundle(what));
    if m.format != 1 {
        return wrong(format!(
            "bundle format {} is not known to this Hearth",
            m.format
        ));
    }
    if m.product != "hearth" {
        return wrong(format!("it is for {:?}", m.product));
    }
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    };
    if m.arch != arch {
        return wrong(format!("it is for {} boxes, this one is {arch}", m.arch));
    }
    if version_key(&m.version) < version_key(running_version) {
        return Err(UpdateError::Older {
            bundle: m.version.clone(),
            running: running_version.to_owned(),
        });
    }
    if m.files.is_empty() || m.files.len() > MAX_FILES {
        return wrong("it lists no files, or too many".into());
    }
    for f in &m.files {
        let ok = !f.path.is_empty()
            && f.path.len() <= 128
            && f.path.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
            && !f.path.ends_with("cmdline.txt");
        if !ok || f.sha256.len() != 64 {
            return wrong(format!("file entry {:?} is not acceptable", f.path));
        }
    }
    if !m.files.iter().any(|f| f.path == "hearth") {
        return wrong("it has no hearth binary".into());
    }
    Ok(())
}

/// `1.2.10` as comparable numbers (anything after `-` or `+` is ignored).
fn version_key(v: &str) -> Vec<u64> {
    v.split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// Rewrites slot names in a kernel command line or a systemd-boot entry.
fn retarget(text: &str, from: Slot, to: Slot) -> String {
    let (f, t) = (from.letter(), to.letter());
    text.replace(&format!("slot-{f}/"), &format!("slot-{t}/"))
        .replace(&format!("hearth.slot={f}"), &format!("hearth.slot={t}"))
        .replace(&format!("(slot {f})"), &format!("(slot {t})"))
}

fn write_loader_entry(boot: &Boot, target: Slot) -> Result<(), UpdateError> {
    let entries = boot.dir.join("loader/entries");
    let from = entries.join(format!("hearth-{}.conf", boot.current.letter()));
    if let Ok(text) = fs::read_to_string(&from) {
        write_synced(
            &entries.join(format!("hearth-{}.conf", target.letter())),
            &retarget(&text, boot.current, target),
        )?;
    }
    Ok(())
}

/// Points the firmware (Raspberry Pi: `slot.txt`, included by `config.txt`) and systemd-boot
/// (UEFI: `loader/loader.conf`) at `slot`.
pub fn select(boot_dir: &Path, slot: Slot) -> Result<(), UpdateError> {
    let s = slot.letter();
    write_synced(
        &boot_dir.join("slot.txt"),
        &format!(
            "# The slot the Raspberry Pi firmware boots; written by Hearth (docs/image.md).\n\
             [all]\nos_prefix=slot-{s}/\n[pi5]\nos_prefix=slot-{s}/pi5/\n[all]\n"
        ),
    )?;
    let loader = boot_dir.join("loader/loader.conf");
    if let Ok(text) = fs::read_to_string(&loader) {
        let mut out: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("default"))
            .map(|l| format!("{l}\n"))
            .collect();
        out.insert_str(0, &format!("default hearth-{s}.conf\n"));
        write_synced(&loader, &out)?;
    }
    Ok(())
}

/// Writes `path` through a temporary file and a rename, both synced.
fn write_synced(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Runs `f` with `dir` writable: the image mounts the boot partition read-only and only an
/// update (or the claim code copy) remounts it for a moment.
fn with_writable<T>(
    dir: &Path,
    f: impl FnOnce() -> Result<T, UpdateError>,
) -> Result<T, UpdateError> {
    let read_only = fs::read_to_string("/proc/mounts").ok().is_some_and(|m| {
        m.lines().any(|l| {
            let mut p = l.split_whitespace();
            let (_, mnt, _, opts) = (p.next(), p.next(), p.next(), p.next());
            mnt == dir.to_str() && opts.is_some_and(|o| o.split(',').any(|x| x == "ro"))
        })
    });
    let remount = |mode: &str| {
        std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(dir)
            .status()
            .map_err(UpdateError::Io)
            .and_then(|s| {
                if s.success() {
                    Ok(())
                } else {
                    Err(UpdateError::Io(io::Error::other(format!(
                        "cannot remount {} {mode}",
                        dir.display()
                    ))))
                }
            })
    };
    if read_only {
        remount("rw")?;
    }
    let out = f();
    if read_only {
        let _ = std::process::Command::new("sync").status();
        let _ = remount("ro");
    }
    out
}

/// What `/init` and Hearth recorded about the last update.
#[derive(Debug, Default, Clone)]
pub struct State {
    /// `trying`, `committed` or `failed`.
    pub state: String,
    pub slot: String,
    pub from: String,
    pub version: String,
    pub build: String,
    pub at: i64,
    /// The last log lines of a failed trial.
    pub why: String,
}

pub fn read_state(data_dir: &Path) -> Option<State> {
    let text = fs::read_to_string(data_dir.join(STATE_FILE)).ok()?;
    let mut s = State::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.to_owned();
        match k {
            "state" => s.state = v,
            "slot" => s.slot = v,
            "from" => s.from = v,
            "version" => s.version = v,
            "build" => s.build = v,
            "at" => s.at = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    if s.state == "failed" {
        s.why = fs::read_to_string(data_dir.join(FAILED_LOG)).unwrap_or_default();
    }
    Some(s)
}

fn write_state(data_dir: &Path, pairs: &[(&str, &str)]) -> io::Result<()> {
    let text: String = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}\n", v.replace('\n', " ")))
        .collect();
    write_synced(&data_dir.join(STATE_FILE), &text)
}

fn unix_now() -> u64 {
    crate::clock::now_unix_secs()
}

/// Asks the image's `/init` (PID 1) to reboot the box, the same way `reboot` does. Only on
/// the image (the kernel command line names a slot): anywhere else it would signal a real init.
pub fn request_reboot() -> bool {
    if running_slot().is_none() {
        return false;
    }
    std::process::Command::new("kill")
        .args(["-TERM", "1"])
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests;
