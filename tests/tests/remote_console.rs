//! Remote consoles: tarpc over TLS to a real `cipd`, with certificates made here by a test CA.
//! A console that trusts the daemon's CA signs in and pays; a wrong CA, a missing or foreign
//! client certificate, a silent connection and garbage are each refused on their own, while
//! the listener keeps serving everyone else.

use cip_client::{Attached, ConnectError, Endpoint, Remote};
use cip_common::status::PaymentStatus;
use cip_tests::pki::{Ca, Pki};
use cip_tests::terminal::Console;
use cip_tests::{Daemon, TEST_CONFIG, card_request, ctx, new_key};
use rcgen::ExtendedKeyUsagePurpose;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The daemon's side: its CA, and a daemon with TLS on a free loopback port.
struct Remotely {
    pki: Pki,
    ca: Ca,
    daemon: Daemon,
    address: String,
}

impl Remotely {
    /// With `client_ca`, clients must show a certificate signed by the daemon's CA.
    async fn start(client_ca: bool) -> Remotely {
        Self::start_with(client_ca, "").await
    }

    /// [`Remotely::start`], with more `[rpc]` settings.
    async fn start_with(client_ca: bool, rpc: &str) -> Remotely {
        let pki = Pki::temporary();
        let ca = pki.ca("cip-test-ca");
        let (cert, key) = pki.leaf(
            &ca,
            "cipd",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        // A port of its own that stays the same across restarts: taken, then let go.
        let address = free_address().await;
        let mut config = format!(
            "{TEST_CONFIG}\n[rpc]\n{rpc}listen = \"{address}\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        );
        if client_ca {
            config.push_str(&format!(
                "client_ca = {:?}\n",
                ca.file.display().to_string()
            ));
        }
        let daemon = Daemon::start_with(&config).await;
        assert_eq!(remote_address(&daemon).await, address);
        Remotely {
            pki,
            ca,
            daemon,
            address,
        }
    }

    fn endpoint(&self, ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> Endpoint {
        let identity = identity.map(|(cert, key)| (cert.as_path(), key.as_path()));
        Endpoint::Remote(Arc::new(
            Remote::new(&self.address, ca, identity).expect("the files are read"),
        ))
    }

    /// A console's certificate signed by `ca`.
    fn console_identity(&self, ca: &Ca, name: &str) -> (PathBuf, PathBuf) {
        self.pki
            .leaf(ca, name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A loopback address nothing listens on: a port taken, then let go.
async fn free_address() -> String {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port")
        .local_addr()
        .expect("its address")
        .to_string()
}

/// The address the daemon printed when its TLS listener started.
async fn remote_address(daemon: &Daemon) -> String {
    for _ in 0..400 {
        if let Some(address) = daemon.log().lines().rev().find_map(|l| {
            l.split_once("cipd remote consoles on ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(str::to_owned)
        }) {
            return address;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "cipd did not say where remote consoles connect: {}",
        daemon.log()
    );
}

/// Signs agent1 in over `endpoint` and pays 25.00 with a card the sandbox approves.
async fn sign_in_and_pay(remotely: &Remotely, endpoint: &Endpoint) {
    let Attached { client, .. } = endpoint.open().await.expect("connects over TLS");
    let token = remotely
        .daemon
        .login(&client, "DMV-RENEWAL", "agent1")
        .await;
    let request = card_request("4242424242424242", 2_500);
    remotely.daemon.sent(&request);
    let payment = client
        .submit(ctx(), token.clone(), new_key(), request)
        .await
        .expect("rpc")
        .expect("the payment is taken");
    assert_eq!(payment.status, PaymentStatus::Approved);
    // The same role checks as on the socket: an agent does not see the queue.
    let refused = client.stats(ctx(), token).await.expect("rpc");
    assert!(refused.is_err(), "an agent saw the queue over TLS");
}

/// Whether the daemon refused the console's certificate: during the handshake (TLS 1.2) or
/// right after it, when the daemon has checked the certificate (TLS 1.3).
async fn refused(endpoint: &Endpoint) -> String {
    let error = match endpoint.open().await {
        Err(error) => error,
        Ok(attached) => attached
            .closed
            .await
            .expect("the connection's task ends")
            .expect("the daemon said why it closed"),
    };
    assert!(matches!(error, ConnectError::Refused { .. }), "{error}");
    error.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_that_trusts_the_ca_signs_in_and_pays() {
    let remotely = Remotely::start(false).await;
    sign_in_and_pay(&remotely, &remotely.endpoint(&remotely.ca.file, None)).await;
    // The audit log says where the sign-in came from.
    let from_tls: i64 = remotely
        .daemon
        .sql("SELECT count(*) FROM audit_log WHERE origin LIKE 'tls 127.0.0.1:%'")[0][0]
        .parse()
        .expect("a count");
    assert!(from_tls > 0, "no audit entry names the TLS peer");
    remotely.daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_ca_or_address_is_told_plainly() {
    let remotely = Remotely::start(false).await;
    let stranger = remotely.pki.ca("some-other-ca");
    let error = remotely
        .endpoint(&stranger.file, None)
        .open()
        .await
        .err()
        .expect("a daemon signed by another CA is not trusted");
    let told = error.to_string();
    assert!(
        matches!(error, ConnectError::Untrusted { .. })
            && told.contains(&format!(
                "the daemon's certificate at {} is not trusted by {}",
                remotely.address,
                stranger.file.display()
            )),
        "{told}"
    );

    let free = free_address().await;
    let nowhere = Endpoint::Remote(Arc::new(
        Remote::new(&free, &remotely.ca.file, None).expect("the files are read"),
    ));
    let told = nowhere
        .open()
        .await
        .err()
        .expect("nothing answers")
        .to_string();
    assert!(
        told.contains(&format!("cannot reach cipd at {free}")),
        "{told}"
    );
    // The daemon still serves a console that trusts it.
    sign_in_and_pay(&remotely, &remotely.endpoint(&remotely.ca.file, None)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_garbage_connections_hold_up_no_one() {
    let remotely = Remotely::start(false).await;
    let endpoint = remotely.endpoint(&remotely.ca.file, None);
    let silent = tokio::net::TcpStream::connect(&remotely.address)
        .await
        .expect("connects");
    let mut garbage = tokio::net::TcpStream::connect(&remotely.address)
        .await
        .expect("connects");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: cip\r\n\r\n\x00\xff\x16\x03\x01\x00\x05garbage")
        .await
        .expect("written");

    sign_in_and_pay(&remotely, &endpoint).await;
    // The silent connection is still waiting on its own handshake: the daemon has not closed it
    // (a peek at the socket itself finds neither data nor its end).
    let silent = silent.into_std().expect("a socket");
    assert!(
        matches!(silent.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the silent connection was closed before the console was served"
    );
    // Garbage is answered by closing that connection alone.
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer).await;

    drop((silent, garbage));
    sign_in_and_pay(&remotely, &endpoint).await;
    assert!(
        remotely.daemon.log().contains("TLS refused"),
        "{}",
        remotely.daemon.log()
    );
    remotely.daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_clients_never_keep_a_local_console_out() {
    // Room for two consoles; twice as many clients connect and never start their handshake.
    let remotely = Remotely::start_with(false, "max_connections = 2\n").await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(
            tokio::net::TcpStream::connect(&remotely.address)
                .await
                .expect("connects"),
        );
    }
    // A console on the socket and a remote one are served while all of them still wait: none
    // had to be dropped at its handshake's timeout to make room.
    sign_in_and_pay(&remotely, &Endpoint::Socket(remotely.daemon.socket.clone())).await;
    sign_in_and_pay(&remotely, &remotely.endpoint(&remotely.ca.file, None)).await;
    for waiting in silent {
        let waiting = waiting.into_std().expect("a socket");
        assert!(
            matches!(waiting.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a client waiting on its handshake was dropped before the consoles were served"
        );
    }
    // Remote clients that finish their handshake and then sit idle fill the TLS listener's
    // slots (the one past them is closed at once), never the socket's.
    let endpoint = remotely.endpoint(&remotely.ca.file, None);
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(endpoint.open().await.expect("the handshake completes"));
    }
    sign_in_and_pay(&remotely, &Endpoint::Socket(remotely.daemon.socket.clone())).await;
    drop(idle);
    remotely.daemon.assert_no_card_data();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_client_ca_only_signed_consoles_get_in() {
    let remotely = Remotely::start(true).await;
    let without = refused(&remotely.endpoint(&remotely.ca.file, None)).await;
    assert!(
        without.contains(&format!(
            "the daemon at {} refused this console's certificate",
            remotely.address
        )),
        "{without}"
    );
    let stranger = remotely.pki.ca("some-other-ca");
    let foreign = remotely.console_identity(&stranger, "foreign-console");
    refused(&remotely.endpoint(&remotely.ca.file, Some(&foreign))).await;

    let signed = remotely.console_identity(&remotely.ca, "desk-console");
    sign_in_and_pay(
        &remotely,
        &remotely.endpoint(&remotely.ca.file, Some(&signed)),
    )
    .await;
    remotely.daemon.assert_no_card_data();
}

/// The real `cip --connect`: a wrong CA is told before the terminal is taken; the right one
/// signs in, and the console reconnects over TLS when the daemon restarts, still signed in.
#[tokio::test(flavor = "multi_thread")]
async fn cip_connect_signs_in_and_reconnects_over_tls() {
    let mut remotely = Remotely::start(true).await;
    let signed = remotely.console_identity(&remotely.ca, "desk-console");
    let stranger = remotely.pki.ca("some-other-ca");
    let file = |path: &Path| path.to_str().expect("a UTF-8 path").to_owned();
    let (address, dir) = (
        remotely.address.clone(),
        remotely.daemon.dir.path().to_path_buf(),
    );
    let (address, dir) = (address.as_str(), dir.as_path());

    let wrong = Console::start_args(dir, &["--connect", address, "--ca", &file(&stranger.file)]);
    wrong.wait_for("is not trusted by");

    let mut console = Console::start_args(
        dir,
        &[
            "--connect",
            address,
            "--ca",
            &file(&remotely.ca.file),
            "--cert",
            &file(&signed.0),
            "--key",
            &file(&signed.1),
        ],
    );
    console.sign_in("DMV-RENEWAL", "agent1");
    console.wait_for("Payer name");

    remotely.daemon.kill();
    console.wait_for("reconnecting");
    remotely.daemon.serve().await;
    let screen = console.wait_for("● connected");
    assert!(screen.contains("Payer name"), "{screen}");
}
