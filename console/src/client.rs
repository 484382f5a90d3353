//! The one task that talks tarpc to the daemon: it carries out `Command`s and sends the answers
//! back as `Msg`s, and it reconnects by itself when the daemon goes away.

use crate::app::{Answer, Command, Connection, Msg};
use cip_common::service::CipClient;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tarpc::client::RpcError;
use tarpc::context;
use tokio::sync::{mpsc, watch};

/// How long the console waits for any call (the daemon answers in-doubt payments within its own
/// processor deadline, well inside this).
const CALL_DEADLINE: Duration = Duration::from_secs(60);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

fn ctx() -> context::Context {
    let mut ctx = context::current();
    ctx.deadline = Instant::now() + CALL_DEADLINE;
    ctx
}

/// Runs until the command channel closes.
pub async fn run(
    socket: PathBuf,
    mut commands: mpsc::UnboundedReceiver<Command>,
    msgs: mpsc::UnboundedSender<Msg>,
) {
    let (client_tx, client_rx) = watch::channel::<Option<CipClient>>(None);
    let (lost_tx, mut lost_rx) = mpsc::unbounded_channel::<()>();
    // The connection keeper: connects, and reconnects when the daemon goes away. A second,
    // silent connection tells at once when the daemon's end closes (a restart, a crash).
    let keeper_msgs = msgs.clone();
    tokio::spawn(async move {
        loop {
            let mut backoff = Duration::from_millis(50);
            let (client, mut watcher) = loop {
                let connected = async {
                    let client = cip_daemon::rpc::connect(&socket).await?;
                    let watcher = tokio::net::UnixStream::connect(&socket).await?;
                    std::io::Result::Ok((client, watcher))
                };
                match connected.await {
                    Ok(pair) => break pair,
                    Err(_) => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            };
            client_tx.send_replace(Some(client));
            if keeper_msgs
                .send(Msg::Connection(Connection::Connected))
                .is_err()
            {
                return;
            }
            let mut byte = [0u8; 1];
            tokio::select! {
                lost = lost_rx.recv() => if lost.is_none() { return },
                _ = tokio::io::AsyncReadExt::read(&mut watcher, &mut byte) => {}
            }
            while lost_rx.try_recv().is_ok() {}
            client_tx.send_replace(None);
            if keeper_msgs.send(Msg::Connection(Connection::Lost)).is_err() {
                return;
            }
        }
    });
    while let Some(command) = commands.recv().await {
        if matches!(command, Command::Quit) {
            break;
        }
        let mut client_rx = client_rx.clone();
        let (msgs, lost) = (msgs.clone(), lost_tx.clone());
        tokio::spawn(async move {
            let Ok(client) = client_rx.wait_for(Option::is_some).await.map(|c| c.clone()) else {
                return;
            };
            let client = client.expect("waited for a client");
            let broken = |e: &RpcError| {
                matches!(
                    e,
                    RpcError::Shutdown | RpcError::Send(_) | RpcError::Channel(_)
                )
            };
            let msg = match command {
                Command::Login {
                    application,
                    user,
                    password,
                } => match client.login(ctx(), application, user, password).await {
                    Ok(answer) => Msg::LoggedIn(answer),
                    Err(e) => {
                        if broken(&e) {
                            let _ = lost.send(());
                        }
                        Msg::LoggedIn(Err(cip_common::ApiError::Unavailable {
                            reason: "the daemon did not answer".into(),
                        }))
                    }
                },
                Command::LoadForm { token, application } => {
                    match client.application(ctx(), token, application).await {
                        Ok(answer) => Msg::FormLoaded(answer),
                        Err(e) => {
                            if broken(&e) {
                                let _ = lost.send(());
                            }
                            Msg::FormLoaded(Err(cip_common::ApiError::Unavailable {
                                reason: "the daemon did not answer".into(),
                            }))
                        }
                    }
                }
                Command::Submit {
                    token,
                    key,
                    request,
                } => {
                    let answer = match client.submit(ctx(), token, key.clone(), *request).await {
                        Ok(Ok(payment)) => Answer::Payment(Box::new(payment)),
                        Ok(Err(refused)) => Answer::Refused(refused),
                        Err(e) => {
                            if broken(&e) {
                                let _ = lost.send(());
                            }
                            Answer::Lost
                        }
                    };
                    Msg::Submitted { key, answer }
                }
                Command::Logout { token } => {
                    let _ = client.logout(ctx(), token).await;
                    return;
                }
                Command::SaveReceipt { .. } | Command::Quit => return,
            };
            let _ = msgs.send(msg);
        });
    }
}
