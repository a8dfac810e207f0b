//! Golden fixtures: compared exactly; rewritten only when `UPDATE_GOLDEN=1` is set. A missing
//! fixture is written and the test fails, so a new one is always looked at before it counts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

pub fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) => assert!(
            expected == actual,
            "{name} differs from its golden fixture.\n--- expected\n{expected}\n--- actual\n{actual}\n(rerun with UPDATE_GOLDEN=1 if the change is intended)"
        ),
        Err(_) => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            panic!("{name}: fixture was missing and has been written; review it and run again");
        }
    }
}
