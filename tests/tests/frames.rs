//! A malformed or oversized frame closes only its own connection; the daemon keeps serving.

use cip_common::payment::SearchQuery;
use cip_tests::{Daemon, ctx};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Writes `bytes` on a fresh connection and waits for the daemon to close it.
async fn closed_after(daemon: &Daemon, bytes: &[u8]) {
    let mut stream = UnixStream::connect(&daemon.socket).await.expect("connects");
    stream.write_all(bytes).await.expect("written");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("the daemon closes the connection");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "connection still open: {read:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_frames_close_only_their_own_connection() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let token = daemon.login(&client, "DMV-RENEWAL", "super1").await;

    let garbage = b"{ this is not a tarpc message";
    let mut malformed = (garbage.len() as u32).to_be_bytes().to_vec();
    malformed.extend_from_slice(garbage);
    closed_after(&daemon, &malformed).await;

    // A length prefix far beyond rpc.max_frame_bytes (1 MiB by default).
    let mut oversized = (64u32 << 20).to_be_bytes().to_vec();
    oversized.extend_from_slice(&[b'x'; 1024]);
    closed_after(&daemon, &oversized).await;

    // The connection opened before the bad ones still works, and new ones are accepted.
    let page = client
        .search(
            ctx(),
            token.clone(),
            SearchQuery {
                page_size: 10,
                ..Default::default()
            },
        )
        .await
        .expect("rpc")
        .expect("search");
    assert!(page.payments.is_empty());
    let fresh = daemon.client().await;
    assert!(
        fresh
            .search(ctx(), token, SearchQuery::default())
            .await
            .expect("rpc")
            .is_ok()
    );
}
