//! The end-to-end suites again, on PostgreSQL: each suite's own test binary, built beside this
//! one by `cargo test`, run with `CIP_TEST_STORE=postgres`, so every daemon it starts runs on a
//! database of a private cluster (`cip_tests::postgres`). One set of tests, two stores. Without
//! PostgreSQL here each says so and skips, unless `CIP_REQUIRE_TOOLS` is set (as in CI).
//!
//! Not run again: `backup` (it copies the SQLite file, which PostgreSQL does not have),
//! `crash_loop` (`shared_crash_loop` is its run on PostgreSQL, with two daemons and the server
//! itself killed too), the seeded simulation (an in-process store), the suites of two stores or
//! two daemons, and the suites that start no daemon.

use cip_tests::postgres;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The suites run one at a time: each runs its own tests in parallel already.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The newest test binary of `suite` beside this one (`target/<profile>/deps/<suite>-<hash>`).
fn suite_binary(suite: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let deps = exe.parent().expect("a binary is in a dir");
    let prefix = format!("{suite}-");
    std::fs::read_dir(deps)
        .expect("the test binaries' dir")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let hash = name.strip_prefix(&prefix)?;
            let built = entry.metadata().ok()?;
            (hash.chars().all(|c| c.is_ascii_hexdigit()) && built.is_file())
                .then(|| (built.modified().ok(), entry.path()))
        })
        .max()
        .map(|(_, path)| path)
        .unwrap_or_else(|| {
            panic!(
                "no test binary of {suite} in {}: run `cargo test --workspace`",
                deps.display()
            )
        })
}

fn on_postgres(suite: &str) {
    if postgres::wanted() || !postgres::present() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = Command::new(suite_binary(suite))
        .env("CIP_TEST_STORE", "postgres")
        .output()
        .expect("the suite runs");
    assert!(
        out.status.success(),
        "{suite} failed on PostgreSQL:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

macro_rules! suites {
    ($($suite:ident),* $(,)?) => {
        $(
            #[test]
            fn $suite() {
                on_postgres(stringify!($suite));
            }
        )*
    };
}

suites!(
    batches,
    console,
    console_ascii,
    console_entry,
    console_finding,
    console_forms,
    console_sending,
    console_supervisor,
    crash,
    feed_and_search,
    feed_volume,
    frames,
    free_text,
    hosted_page,
    http_gateway,
    idempotency,
    operations,
    pci,
    refunds,
    remote_console,
    reports,
    sandbox_contract,
    shared_sandbox,
    sign_in,
    staff_pages,
    stripe,
    supervisor,
);
