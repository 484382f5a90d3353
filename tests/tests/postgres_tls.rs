//! A daemon on a PostgreSQL server across the network: with `sslmode=require` in its URL, every
//! connection it makes is TLS, and only to a server whose certificate `[store] tls_ca` signed;
//! one shown a certificate it cannot trust refuses to start and says why. Skipped, saying so,
//! where PostgreSQL is not installed, unless `CIP_REQUIRE_TOOLS` is set (as in CI).

use cip_tests::pki::Pki;
use cip_tests::{Daemon, TEST_CONFIG, postgres};
use std::path::Path;

fn with_tls_ca(ca: &Path) -> String {
    format!("{TEST_CONFIG}\n[store]\ntls_ca = \"{}\"\n", ca.display())
}

/// The name of the database `daemon` serves.
fn database_of(daemon: &Daemon) -> String {
    let url = daemon.store_url.as_deref().expect("a PostgreSQL store");
    url.rsplit("dbname=").next().expect("named").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_sslmode_require_every_connection_is_tls_to_the_server_the_ca_signed() {
    if !postgres::present() {
        return;
    }
    let cluster = postgres::cluster();
    // The first daemon makes the database over the socket; the second reaches it over TCP.
    let first = Daemon::start_on_postgres(&with_tls_ca(&cluster.tls_ca)).await;
    let database = database_of(&first);
    let second = Daemon::like(&first, Some(cluster.tls_url(&database))).await;
    let client = second.client().await;
    let agent = second.login(&client, "DMV-RENEWAL", "agent1").await;
    let paid = second
        .take(&client, &agent, "4242424242424242", 2_500)
        .await;
    assert!(paid.confirmation_code.is_some(), "{paid:?}");

    let over_tcp = first.sql(&format!(
        "SELECT count(*), count(*) FILTER (WHERE s.ssl)
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = '{database}' AND a.client_addr IS NOT NULL"
    ));
    let (connections, encrypted) = (&over_tcp[0][0], &over_tcp[0][1]);
    assert_ne!(connections, "0", "the second daemon keeps connections");
    assert_eq!(connections, encrypted, "every connection over TCP is TLS");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_whose_certificate_the_ca_did_not_sign_is_refused_at_start() {
    if !postgres::present() {
        return;
    }
    let cluster = postgres::cluster();
    let pki = Pki::temporary();
    let stranger = pki.ca("some-other-ca");
    let first = Daemon::start_on_postgres(&with_tls_ca(&stranger.file)).await;
    let database = database_of(&first);
    let second = Daemon::unstarted_like(&first, Some(cluster.tls_url(&database)));
    let out = second.cipd(&["serve"], None);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("cannot open the PostgreSQL store"), "{said}");
    assert!(said.contains("certificate"), "{said}");
    assert!(!second.socket.exists(), "it never listened");
}
