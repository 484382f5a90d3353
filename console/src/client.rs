//! The one task that talks tarpc to the daemon: it carries out `Command`s and sends the answers
//! back as `Msg`s, follows the feed with a long poll, and reconnects by itself when the daemon
//! goes away.

use crate::app::{Answer, Command, Connection, Msg};
use cip_client::{ConnectError, Endpoint};
use cip_common::ApiError;
use cip_common::service::CipClient;
use std::time::{Duration, Instant};
use tarpc::client::RpcError;
use tarpc::context;
use tokio::sync::{mpsc, watch};

/// How long the console waits for any call (the daemon answers in-doubt payments within its own
/// processor deadline, well inside this).
const CALL_DEADLINE: Duration = Duration::from_secs(60);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long one feed poll waits on the daemon for a new event.
const FEED_WAIT_MS: u32 = 10_000;
/// Most events one feed poll brings.
const FEED_BATCH: u32 = 1_000;
/// Pause before asking again after the daemon refused a feed poll for a passing reason.
const FEED_RETRY: Duration = Duration::from_secs(1);

fn ctx() -> context::Context {
    let mut ctx = context::current();
    ctx.deadline = Instant::now() + CALL_DEADLINE;
    ctx
}

/// Whether a failed call means the connection is gone (rather than a slow answer).
fn broken(error: &RpcError) -> bool {
    matches!(
        error,
        RpcError::Shutdown | RpcError::Send(_) | RpcError::Channel(_)
    )
}

fn unanswered() -> ApiError {
    ApiError::Unavailable {
        reason: "the daemon did not answer".into(),
    }
}

/// The live connection, and the way to report it broken.
#[derive(Clone)]
struct Link {
    client: watch::Receiver<Option<CipClient>>,
    lost: mpsc::UnboundedSender<()>,
}

impl Link {
    async fn client(&mut self) -> Option<CipClient> {
        self.client
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|c| c.clone())
    }

    /// A call's answer, or (after reporting a broken link) the refusal to show for it.
    fn answer<T>(&self, result: Result<Result<T, ApiError>, RpcError>) -> Result<T, ApiError> {
        result.unwrap_or_else(|e| {
            if broken(&e) {
                let _ = self.lost.send(());
            }
            Err(unanswered())
        })
    }
}

/// Runs until the command channel closes.
pub async fn run(
    endpoint: Endpoint,
    mut commands: mpsc::UnboundedReceiver<Command>,
    msgs: mpsc::UnboundedSender<Msg>,
) {
    let (client_tx, client_rx) = watch::channel::<Option<CipClient>>(None);
    let (lost_tx, lost_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(keep_connected(endpoint, client_tx, lost_rx, msgs.clone()));
    let link = Link {
        client: client_rx,
        lost: lost_tx,
    };
    let mut follower: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(command) = commands.recv().await {
        match command {
            Command::Quit => break,
            Command::StopFollowing => {
                if let Some(task) = follower.take() {
                    task.abort();
                }
            }
            Command::Follow { token, after } => {
                if let Some(task) = follower.take() {
                    task.abort();
                }
                follower = Some(tokio::spawn(follow(
                    link.clone(),
                    token,
                    after,
                    msgs.clone(),
                )));
            }
            Command::Export {
                token,
                filter,
                file_name,
            } => {
                tokio::spawn(export(
                    link.clone(),
                    token,
                    *filter,
                    file_name,
                    msgs.clone(),
                ));
            }
            command => {
                let (mut link, msgs) = (link.clone(), msgs.clone());
                tokio::spawn(async move {
                    if let Some(client) = link.client().await
                        && let Some(msg) = call(&link, &client, command).await
                    {
                        let _ = msgs.send(msg);
                    }
                });
            }
        }
    }
    if let Some(task) = follower {
        task.abort();
    }
}

/// Connects, and reconnects when the daemon goes away: the connection's own end tells at once
/// when the daemon's end closes (a restart, a crash, a network failure). A certificate one side
/// does not trust ends the console with the reason, as retrying cannot mend it.
async fn keep_connected(
    endpoint: Endpoint,
    client_tx: watch::Sender<Option<CipClient>>,
    mut lost_rx: mpsc::UnboundedReceiver<()>,
    msgs: mpsc::UnboundedSender<Msg>,
) {
    let cannot_connect = |reason: ConnectError| {
        let _ = msgs.send(Msg::CannotConnect(reason.to_string()));
    };
    loop {
        let mut backoff = Duration::from_millis(50);
        let mut attached = loop {
            match endpoint.open().await {
                Ok(attached) => break attached,
                Err(e @ (ConnectError::Untrusted { .. } | ConnectError::Refused { .. })) => {
                    return cannot_connect(e);
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        // Reports of the old connection's failures are about that one, not this.
        while lost_rx.try_recv().is_ok() {}
        client_tx.send_replace(Some(attached.client));
        if msgs.send(Msg::Connection(Connection::Connected)).is_err() {
            return;
        }
        tokio::select! {
            lost = lost_rx.recv() => if lost.is_none() { return },
            closed = &mut attached.closed => if let Ok(Some(reason)) = closed {
                return cannot_connect(reason);
            },
        }
        client_tx.send_replace(None);
        if msgs.send(Msg::Connection(Connection::Lost)).is_err() {
            return;
        }
    }
}

/// Long-polls the feed from `after`, across reconnections, keeping its own cursor: an event is
/// delivered once, in order, whatever happens to the connection.
async fn follow(
    mut link: Link,
    token: cip_common::secret::SessionToken,
    mut after: u64,
    msgs: mpsc::UnboundedSender<Msg>,
) {
    loop {
        let Some(client) = link.client().await else {
            return;
        };
        match client
            .events(ctx(), token.clone(), after, FEED_BATCH, FEED_WAIT_MS)
            .await
        {
            Ok(Ok(batch)) => {
                after = batch.next_seq;
                if !batch.events.is_empty() && msgs.send(Msg::Events(batch.events)).is_err() {
                    return;
                }
            }
            Ok(Err(refused @ (ApiError::SessionExpired | ApiError::Forbidden { .. }))) => {
                let _ = msgs.send(Msg::FeedStopped(refused));
                return;
            }
            // A busy or failing daemon: the same cursor again in a moment.
            Ok(Err(_)) => tokio::time::sleep(FEED_RETRY).await,
            Err(e) => {
                if broken(&e) {
                    let _ = link.lost.send(());
                    // Wait for the keeper to drop the broken client before asking again.
                    let _ = link.client.wait_for(Option::is_none).await;
                }
            }
        }
    }
}

/// Writes an export part by part into `file_name` (in the console's working directory) through
/// a temporary file, so a file of that name is always a whole export; reports progress.
async fn export(
    mut link: Link,
    token: cip_common::secret::SessionToken,
    filter: cip_common::report::ReportFilter,
    file_name: String,
    msgs: mpsc::UnboundedSender<Msg>,
) {
    let part = format!(".{file_name}.part");
    let written = async {
        let cannot = |e: std::io::Error| ApiError::InvalidRequest {
            message: format!(
                "cannot write {file_name} here ({e}): start cip in a directory you can write to"
            ),
        };
        let mut file = tokio::fs::File::create(&part).await.map_err(cannot)?;
        let (mut after, mut rows) = (None, 0u64);
        loop {
            let Some(client) = link.client().await else {
                return Err(unanswered());
            };
            let chunk = link.answer(
                client
                    .export_part(ctx(), token.clone(), filter.clone(), after.clone())
                    .await,
            )?;
            tokio::io::AsyncWriteExt::write_all(&mut file, chunk.csv.as_bytes())
                .await
                .map_err(cannot)?;
            rows += u64::from(chunk.rows);
            let _ = msgs.send(Msg::ExportProgress(rows));
            match chunk.next_after {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        file.sync_all().await.map_err(cannot)?;
        tokio::fs::rename(&part, &file_name).await.map_err(cannot)?;
        let path = std::fs::canonicalize(&file_name)
            .map_or(file_name.clone(), |p| p.display().to_string());
        Ok((path, rows))
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    let _ = msgs.send(Msg::Exported(written));
}

/// One call for one command; the message to send back, if any.
async fn call(link: &Link, client: &CipClient, command: Command) -> Option<Msg> {
    Some(match command {
        Command::Login {
            application,
            user,
            password,
        } => Msg::LoggedIn(link.answer(client.login(ctx(), application, user, password).await)),
        Command::LoadForm { token, application } => {
            Msg::FormLoaded(link.answer(client.application(ctx(), token, application).await))
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
                        let _ = link.lost.send(());
                    }
                    Answer::Lost
                }
            };
            Msg::Submitted { key, answer }
        }
        Command::Logout { token } => {
            let _ = client.logout(ctx(), token).await;
            return None;
        }
        Command::LoadOlder { token, before, max } => {
            match link.answer(client.events_before(ctx(), token, before, max).await) {
                Ok(events) => Msg::OlderEvents { events, asked: max },
                Err(e) => Msg::ActionDone(Err(e)),
            }
        }
        Command::LoadDetail { token, payment_id } => {
            let payment = link.answer(
                client
                    .payment(
                        ctx(),
                        token.clone(),
                        cip_common::payment::PaymentLookup::Id(payment_id.clone()),
                    )
                    .await,
            );
            let timeline = link.answer(client.timeline(ctx(), token.clone(), payment_id).await);
            let detail = match (payment, timeline) {
                (Ok(payment), Ok(timeline)) => link
                    .answer(
                        client
                            .application(ctx(), token, payment.application.clone())
                            .await,
                    )
                    .map(|spec| {
                        Box::new(crate::app::Detail {
                            payment,
                            timeline,
                            spec,
                        })
                    }),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            Msg::Detail(detail)
        }
        Command::LoadStats { token } => Msg::Stats(link.answer(client.stats(ctx(), token).await)),
        Command::Search { token, query } => {
            Msg::Searched(link.answer(client.search(ctx(), token, query).await))
        }
        Command::Void { token, payment_id } => Msg::ActionDone(
            link.answer(client.void(ctx(), token, payment_id).await)
                .map(|p| format!("{} voided: {} will not be charged", p.id, p.amount)),
        ),
        Command::Resolve { token, payment_id } => Msg::ActionDone(
            link.answer(client.resolve(ctx(), token, payment_id).await)
                .map(|p| format!("{} resolved: {}", p.id, p.status)),
        ),
        Command::Refund {
            token,
            payment_id,
            key,
            request,
        } => Msg::ActionDone(
            link.answer(client.refund(ctx(), token, payment_id, key, request).await)
                .map(|r| refund_done(&r)),
        ),
        Command::Unlock { token, user } => Msg::ActionDone(
            link.answer(client.unlock(ctx(), token, user.clone()).await)
                .map(|()| format!("{user} unlocked")),
        ),
        Command::Reconcile {
            token,
            application,
            day,
        } => Msg::Reconciled(link.answer(client.reconcile(ctx(), token, application, day).await)),
        Command::KeepAlive { token } => {
            // A failure shows on the next call that matters; the keep-alive itself says nothing.
            let _ = client.keep_alive(ctx(), token).await;
            return None;
        }
        Command::LoadOutcome { token, payment_id } => Msg::OutcomeLoaded(
            link.answer(
                client
                    .payment(
                        ctx(),
                        token,
                        cip_common::payment::PaymentLookup::Id(payment_id),
                    )
                    .await
                    .map(|answer| answer.map(Box::new)),
            ),
        ),
        Command::SaveReceipt { .. }
        | Command::Export { .. }
        | Command::Quit
        | Command::Follow { .. }
        | Command::StopFollowing => return None,
    })
}

/// What a supervisor reads once a refund is answered.
fn refund_done(refund: &cip_common::refund::Refund) -> String {
    use cip_common::refund::RefundStatus;
    match refund.status {
        RefundStatus::Succeeded => format!(
            "{} refunded of {} ({}): given back to the card or account it was paid with",
            refund.amount, refund.payment_id, refund.id
        ),
        RefundStatus::Failed => format!(
            "The processor declined the refund of {} ({}): nothing was given back",
            refund.amount,
            refund.code.as_deref().unwrap_or("no code")
        ),
        RefundStatus::Pending => format!(
            "The refund of {} ({}) is waiting on the processor: CIP sends it again until it answers",
            refund.amount, refund.id
        ),
    }
}
