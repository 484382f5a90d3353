//! A short run of every `cargo fuzz` target in `fuzz/` (amounts, cards, ACH, application fields,
//! tarpc frames, the agency API's JSON body), from the corpus kept in the repository. A finding
//! fails the test and leaves its input in a temporary directory named in the failure.
//!
//! `CIP_FUZZ_SECONDS` sets each target's time (10 by default); a long run is the same command
//! with a larger number.

use std::path::Path;
use std::process::Command;

const TARGETS: [&str; 6] = ["amount", "card", "ach", "fields", "frame", "http_body"];

/// `cargo fuzz` in `fuzz/`, with nothing of this test's cargo. It asks rustc for a few unstable
/// flags (coverage for libFuzzer); `RUSTC_BOOTSTRAP` lets the machine's one stable toolchain
/// take them, so no nightly toolchain is needed.
fn cargo_fuzz(fuzz: &Path) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("fuzz")
        .current_dir(fuzz)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    command
}

#[test]
fn every_fuzz_target_runs_clean_from_its_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let installed = cargo_fuzz(&fuzz)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !cip_tests::tool_present(installed, "cargo fuzz", "cargo install cargo-fuzz") {
        return;
    }
    let seconds: u32 = std::env::var("CIP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let built = cargo_fuzz(&fuzz)
        .args(["build", "-s", "none"])
        .output()
        .expect("cargo fuzz build runs");
    assert!(
        built.status.success(),
        "the fuzz targets do not build; cargo fuzz said:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let scratch = tempfile::tempdir().expect("a temporary dir");
    for target in TARGETS {
        // New inputs go to the scratch corpus; the kept one is only read.
        let found = scratch.path().join(target);
        std::fs::create_dir_all(&found).expect("corpus dir");
        let out = cargo_fuzz(&fuzz)
            .args(["run", "-s", "none", target])
            .arg(&found)
            .arg(fuzz.join("corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", scratch.path().display()))
            .output()
            .expect("cargo fuzz run runs");
        let said = String::from_utf8_lossy(&out.stderr);
        let runs = said
            .lines()
            .rev()
            .find(|l| l.starts_with("Done "))
            .unwrap_or("no summary");
        eprintln!("fuzz {target}: {runs}");
        if !out.status.success() {
            let kept = scratch.keep();
            panic!(
                "fuzz target {target} found a failure; its input is in {}:\n{said}",
                kept.display()
            );
        }
    }
}
