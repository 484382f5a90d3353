//! A daemon on a PostgreSQL role that must give a password, kept where PostgreSQL's own
//! clients keep it: a password file (`PGPASSFILE`, else `~/.pgpass`) only its account may read,
//! so `[store] url`, which every account may read, names none. A file others may read is
//! ignored, as libpq ignores it, and the daemon says so. Skipped, saying so, where PostgreSQL
//! is not installed, unless `CIP_REQUIRE_TOOLS` is set (as in CI).

use cip_tests::postgres::{self, PASSWORD, PASSWORD_USER};
use cip_tests::{Daemon, TEST_CONFIG};
use std::os::unix::fs::PermissionsExt;

/// A daemon on a new database of the password role's, with a password file of `mode` holding
/// that role's password in `PGPASSFILE`.
fn with_password_file(mode: u32) -> Daemon {
    let mut daemon = Daemon::unstarted(
        TEST_CONFIG,
        Some(postgres::cluster().new_password_database()),
    );
    let file = daemon.dir.path().join("pgpass");
    std::fs::write(
        &file,
        format!("# host:port:database:user:password\n*:*:*:{PASSWORD_USER}:{PASSWORD}\n"),
    )
    .expect("the password file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    daemon.set_env(&[("PGPASSFILE", file.to_str().expect("a UTF-8 path"))]);
    daemon
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_comes_from_a_file_only_the_daemons_account_may_read() {
    if !postgres::present() {
        return;
    }
    let mut daemon = with_password_file(0o600);
    let url = daemon.store_url.clone().expect("a PostgreSQL store");
    assert!(!url.contains("password="), "{url}");
    daemon.init();
    daemon.serve().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, "DMV-RENEWAL", "agent1").await;
    let paid = daemon
        .take(&client, &agent, "4242424242424242", 2_500)
        .await;
    assert!(paid.confirmation_code.is_some(), "{paid:?}");

    let database = url.rsplit("dbname=").next().expect("named");
    let roles = daemon.sql(&format!(
        "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    ));
    assert_eq!(
        roles,
        [[PASSWORD_USER]],
        "the daemon signs in as the password's role"
    );
    assert!(!daemon.log().contains(PASSWORD), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_file_others_may_read_is_ignored_and_the_daemon_says_so() {
    if !postgres::present() {
        return;
    }
    let daemon = with_password_file(0o644);
    let out = daemon.cipd(&["init", "--demo"], None);
    assert!(!out.status.success(), "signed in without the password");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("pgpass is ignored"), "{said}");
    assert!(said.contains("chmod 0600"), "{said}");
    assert!(said.contains("password file"), "{said}");
    assert!(!said.contains(PASSWORD), "{said}");
}
