//! The card-data scan after the whole suite. Every test daemon keeps its data dir under
//! `target/tmp/cip-suite` (`cip_tests::suite_dir`); cargo runs test binaries in name order, so
//! this one, named to sort last, runs after all of them. It searches every file they wrote (each
//! database and its WAL, each log, processor ledger, CSV export, batch report and backup) for any
//! card number of the sandbox contract and any card number, account number or CVV its test
//! sent, then removes what it scanned. The seeded simulation scans each of its runs itself.

use cip_tests::{SENT_FILE, card_data_in, suite_dir};

#[test]
fn no_file_the_suite_wrote_holds_card_data() {
    let suite = suite_dir();
    let dirs: Vec<_> = std::fs::read_dir(&suite)
        .map(|entries| entries.map(|e| e.expect("a dir entry").path()).collect())
        .unwrap_or_default();
    assert!(
        !dirs.is_empty(),
        "{} holds nothing to scan: this test checks what the suite before it wrote; run the whole suite (cargo test --workspace)",
        suite.display()
    );
    let mut found = Vec::new();
    let (mut files, mut bytes) = (0u64, 0u64);
    for dir in &dirs {
        let Some(sent) = std::fs::read(dir.join(SENT_FILE))
            .ok()
            .and_then(|json| serde_json::from_slice::<Vec<String>>(&json).ok())
        else {
            found.push(format!(
                "{} has no readable {SENT_FILE}: its test was stopped before its end, so what it sent is not known; remove the dir",
                dir.display()
            ));
            continue;
        };
        match card_data_in(dir, &sent) {
            Ok(scanned) => {
                files += scanned.files;
                bytes += scanned.bytes;
            }
            Err(held) => found.push(held),
        }
    }
    eprintln!(
        "scanned {} test data dirs: {files} files, {} MiB",
        dirs.len(),
        bytes >> 20
    );
    assert!(found.is_empty(), "card data on disk:\n{}", found.join("\n"));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}
