//! `hearth export DEST`: everything each user keeps, as plain files any PC opens without
//! Hearth, for getting a family's data off a card (docs/install.md, "Recovery"):
//!
//! ```text
//! DEST/USER/files/…               the files and folders, with their names and times
//! DEST/USER/calendars/NAME.ics    each calendar (time zones once each)
//! DEST/USER/contacts/NAME.vcf     each address book
//! ```
//!
//! One file (or one page of calendar objects) at a time: nothing is held whole.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::accounts::Actor;
use crate::files::Kind as FileKind;
use crate::groupware::Kind;

#[derive(Debug, Default)]
pub struct Report {
    pub users: usize,
    pub files: u64,
    pub bytes: u64,
    pub folders: u64,
    pub calendars: usize,
    pub addressbooks: usize,
    /// What could not be copied, and why (the export goes on).
    pub problems: Vec<String>,
}

/// What an export reads: every user's files, calendars and address books.
pub struct Sources<'a> {
    pub accounts: &'a crate::accounts::Accounts,
    pub files: &'a crate::files::Files,
    pub groupware: &'a crate::groupware::Groupware,
}

/// Exports every user into `dest`, which must not exist yet or be empty.
pub fn export(app: &Sources<'_>, dest: &Path) -> Result<Report, String> {
    if fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "{} is not empty; export into a new folder",
            dest.display()
        ));
    }
    fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let console = Actor::console();
    let users = app
        .accounts
        .list_users(&console, "", 0, None)
        .map_err(|e| format!("cannot list the users: {e}"))?;
    let mut report = Report::default();
    for user in users {
        report.users += 1;
        let home = dest.join(&user.uid);
        let owner = Actor::console_as(&user.uid);
        export_files(app, &owner, &user.uid, &home.join("files"), &mut report);
        for (kind, dir, ext) in [
            (Kind::Calendar, "calendars", "ics"),
            (Kind::Addressbook, "contacts", "vcf"),
        ] {
            let Ok(colls) = app.groupware.collections(&user.uid, kind) else {
                report
                    .problems
                    .push(format!("{}: cannot list the {dir}", user.uid));
                continue;
            };
            for c in colls {
                let path = home.join(dir).join(format!("{}.{ext}", c.uri));
                match write_collection(app, &c, &path) {
                    Ok(()) if kind == Kind::Calendar => report.calendars += 1,
                    Ok(()) => report.addressbooks += 1,
                    Err(e) => report.problems.push(format!("{}: {e}", path.display())),
                }
            }
        }
    }
    Ok(report)
}

fn write_collection(
    app: &Sources<'_>,
    c: &crate::groupware::Collection,
    path: &Path,
) -> Result<(), String> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(|e| e.to_string())?;
    }
    let mut f = std::io::BufWriter::new(fs::File::create(path).map_err(|e| e.to_string())?);
    let mut failed = None;
    app.groupware
        .export(c, |chunk| match f.write_all(chunk.as_bytes()) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e.to_string());
                false
            }
        });
    if let Some(e) = failed {
        return Err(e);
    }
    f.flush().map_err(|e| e.to_string())
}

/// Walks `uid`'s tree depth-first, a page of children at a time.
fn export_files(app: &Sources<'_>, actor: &Actor, uid: &str, into: &Path, report: &mut Report) {
    let root = match app.files.root(actor, uid) {
        Ok(r) => r,
        Err(e) => {
            report
                .problems
                .push(format!("{uid}: cannot read the files: {e}"));
            return;
        }
    };
    if let Err(e) = fs::create_dir_all(into) {
        report.problems.push(format!("{}: {e}", into.display()));
        return;
    }
    let mut stack: Vec<(u64, PathBuf)> = vec![(root.id, into.to_owned())];
    while let Some((dir, path)) = stack.pop() {
        let mut after: Option<String> = None;
        loop {
            let page = match app.files.children(dir, after.as_deref(), 1000) {
                Ok(p) => p,
                Err(e) => {
                    report.problems.push(format!("{}: {e}", path.display()));
                    break;
                }
            };
            for n in &page {
                let target = path.join(&n.name);
                match n.kind {
                    FileKind::Dir => match fs::create_dir_all(&target) {
                        Ok(()) => {
                            report.folders += 1;
                            stack.push((n.id, target));
                        }
                        Err(e) => report.problems.push(format!("{}: {e}", target.display())),
                    },
                    FileKind::File => match copy_file(app, n, &target) {
                        Ok(bytes) => {
                            report.files += 1;
                            report.bytes += bytes;
                        }
                        Err(e) => report.problems.push(format!("{}: {e}", target.display())),
                    },
                }
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.name.clone()),
                _ => break,
            }
        }
    }
}

fn copy_file(app: &Sources<'_>, n: &crate::files::Node, target: &Path) -> Result<u64, String> {
    let bytes = if n.size == 0 || n.blob.is_none() {
        fs::File::create(target).map_err(|e| e.to_string())?;
        0
    } else if n.inline {
        let data = app.files.read_inline(n).map_err(|e| e.to_string())?;
        fs::write(target, &data).map_err(|e| e.to_string())?;
        data.len() as u64
    } else {
        let from = app.files.blob_path(n).map_err(|e| e.to_string())?;
        fs::copy(&from, target).map_err(|e| e.to_string())?
    };
    if n.mtime > 0
        && let Ok(f) = fs::File::options().write(true).open(target)
    {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(n.mtime.unsigned_abs());
        let _ = f.set_modified(t);
    }
    Ok(bytes)
}
