//! Crash safety: SIGKILL in the middle of many write transactions loses nothing that was
//! acknowledged, and the database opens cleanly; fsck finds and repairs blob disagreements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

#[test]
fn sigkill_during_writes_keeps_every_acknowledged_transaction() {
    let mut s = Server::installed();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..3 {
        let addr = s.addr;
        let mut workers = Vec::new();
        for w in 0..4 {
            let acked = acked.clone();
            workers.push(std::thread::spawn(move || {
                for i in 0..10_000 {
                    let gid = format!("r{round}w{w}g{i}");
                    let bytes = Req::new(
                        addr,
                        "POST",
                        &format!("/ocs/v2.php/cloud/groups?format=json&groupid={gid}"),
                    )
                    .basic("admin", ADMIN_PW)
                    .ocs()
                    .raw_bytes();
                    let r = std::panic::catch_unwind(|| send_raw(addr, &bytes));
                    match r {
                        Ok(r) if r.status == 200 => acked.lock().unwrap().push(gid),
                        _ => break, // the server is gone
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(400 + 200 * round));
        s.kill(); // SIGKILL
        for w in workers {
            let _ = w.join();
        }
        s.spawn();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "too few writes happened to prove anything: {}",
        acked.len()
    );
    s.kill();
    let list = s.cli(&["group", "list"], None).success().stdout;
    let present: std::collections::HashSet<&str> =
        list.lines().filter_map(|l| l.split('\t').next()).collect();
    let lost: Vec<_> = acked
        .iter()
        .filter(|g| !present.contains(g.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but lost after SIGKILL: {lost:?}"
    );
    // And the store is healthy: a write works after the crashes.
    s.cli(&["group", "add", "after-crash"], None).success();
}

#[test]
fn fsck_reports_and_repairs_orphans_and_temp_files() {
    let s = Server::installed();
    let out = s.cli(&["fsck"], None).success().stdout;
    assert!(out.contains("no problems found"), "{out}");
    let blobs = s.data().join("blobs");
    std::fs::create_dir_all(blobs.join("ab")).unwrap();
    let orphan = blobs.join("ab").join("ab".repeat(16));
    std::fs::write(&orphan, b"nobody points at me").unwrap();
    std::fs::write(blobs.join("tmp").join("x.part"), b"half").unwrap();
    // Works while the server runs (through its control socket).
    let out = s.cli(&["fsck"], None);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("orphan blob") && out.stderr.contains("temp file"),
        "{}",
        out.stderr
    );
    assert!(
        orphan.exists(),
        "fsck without --repair must not change anything"
    );
    let out = s.cli(&["fsck", "--repair"], None).success().stdout;
    assert!(out.contains("repaired"), "{out}");
    assert!(!orphan.exists());
    assert!(
        s.cli(&["fsck"], None)
            .success()
            .stdout
            .contains("no problems found")
    );
}
