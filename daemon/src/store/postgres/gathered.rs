//! Writes gathered into one statement. Callers queue their write; one sender for each kind
//! takes every write waiting when it comes free (up to `[store] max_batch`) and sends them as one
//! statement over arrays, so under load one statement, one commit and one flush serve many
//! payments, and the server's work per payment is only its rows. While a statement is on its way
//! the next writes gather, and the statements of the two kinds (`begin` and `decide`) overlap each
//! other's commits. One sender, not several: a statement's own work (its plan, its start, its
//! commit) is the server's whoever sends it, so fewer and fuller statements leave more of the
//! cores to payments. A caller alone is sent alone, at once.
//!
//! When the statement fails as a whole (a confirmation code another payment holds, a deadlock
//! with another daemon's statement), nothing of it was kept, and each write is sent again on its
//! own, so each caller hears its own answer.

use super::{Client, get};
use crate::store::{StoreError, StoreLimits};
use deadpool_postgres::Pool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Connections the senders hold, one for each kind (`begin` and `decide`): a pool of their own,
/// beside the readers' `[store] readers`.
pub(super) const CONNECTIONS: usize = 2;

/// A write that can go with others of its kind in one statement.
pub(super) trait Gather: Sized + Send + Sync + 'static {
    type Answer: Send + 'static;

    /// Writes `all` in one statement, answering each, in order; when it fails, nothing of it
    /// was kept.
    fn all(
        client: &Client,
        all: &[Self],
    ) -> impl Future<Output = Result<Vec<Self::Answer>, StoreError>> + Send;

    /// What a statement of one write that failed with `e` answers it: by default, the error.
    fn refused(e: StoreError) -> Result<Self::Answer, StoreError> {
        Err(e)
    }
}

/// What waits for the sender: a write and where its answer goes, or a heartbeat.
enum Waiting<G: Gather> {
    Write(G, oneshot::Sender<Result<G::Answer, StoreError>>),
    /// Answered by the sender when it takes it, with no statement: the sender comes free, whether
    /// or not the database answers it (see `Store::writer_answers`).
    Heartbeat(oneshot::Sender<()>),
}

/// Where writes of one kind queue for their sender; the sender ends when it is dropped.
pub(super) struct Gathered<G: Gather> {
    queue: mpsc::Sender<Waiting<G>>,
    /// How many writes the last statement sent held.
    last_batch: Arc<AtomicUsize>,
}

impl<G: Gather> Clone for Gathered<G> {
    fn clone(&self) -> Self {
        Gathered {
            queue: self.queue.clone(),
            last_batch: Arc::clone(&self.last_batch),
        }
    }
}

impl<G: Gather> Gathered<G> {
    pub(super) fn start(pool: &Pool, limits: StoreLimits) -> Gathered<G> {
        let (queue, waiting) = mpsc::channel(limits.write_queue.max(1));
        let last_batch = Arc::new(AtomicUsize::new(0));
        tokio::spawn(send(
            pool.clone(),
            waiting,
            limits.max_batch.max(1),
            Arc::clone(&last_batch),
        ));
        Gathered { queue, last_batch }
    }

    /// Writes queued and not yet taken by the sender.
    pub(super) fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// How many writes the last statement sent held.
    pub(super) fn last_batch(&self) -> usize {
        self.last_batch.load(Ordering::Relaxed)
    }

    /// Queues `write` and waits for its answer.
    pub(super) async fn write(&self, write: G) -> Result<G::Answer, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Waiting::Write(write, answer))
            .await
            .map_err(|_| StoreError::Closed)?;
        answered.await.map_err(|_| StoreError::Closed)?
    }

    /// Whether the sender takes a heartbeat queued behind the writes waiting: false once it has
    /// ended; never, while it is stuck on its statement.
    pub(super) async fn heartbeat(&self) -> bool {
        let (answer, answered) = oneshot::channel();
        self.queue.send(Waiting::Heartbeat(answer)).await.is_ok() && answered.await.is_ok()
    }
}

/// The sender: takes what is waiting, writes it, answers, and again.
async fn send<G: Gather>(
    pool: Pool,
    mut waiting: mpsc::Receiver<Waiting<G>>,
    most: usize,
    last_batch: Arc<AtomicUsize>,
) {
    let mut taken = Vec::with_capacity(most);
    loop {
        if waiting.recv_many(&mut taken, most).await == 0 {
            return;
        }
        // A caller that stopped waiting heard that the database did not answer: its write is
        // not sent, so what it heard stays true (nothing of it was kept).
        let (writes, answers): (Vec<G>, Vec<_>) = taken
            .drain(..)
            .filter_map(|waiting| match waiting {
                Waiting::Write(write, answer) if !answer.is_closed() => Some((write, answer)),
                Waiting::Write(..) => None,
                Waiting::Heartbeat(answer) => {
                    let _ = answer.send(());
                    None
                }
            })
            .unzip();
        if writes.is_empty() {
            continue;
        }
        last_batch.store(writes.len(), Ordering::Relaxed);
        match get(&pool).await {
            Ok(client) => {
                for (answer, written) in answers.into_iter().zip(written(&client, &writes).await) {
                    let _ = answer.send(written);
                }
            }
            Err(e) => {
                let e = e.to_string();
                for answer in answers {
                    let _ = answer.send(Err(StoreError::Unreachable(e.clone())));
                }
            }
        }
    }
}

/// Each write's answer: all in one statement, or each alone when that fails as a whole on a
/// connection still open (on a closed one, each hears that the database did not answer).
async fn written<G: Gather>(client: &Client, writes: &[G]) -> Vec<Result<G::Answer, StoreError>> {
    let e = match G::all(client, writes).await {
        Ok(answers) => return answers.into_iter().map(Ok).collect(),
        Err(e) => e,
    };
    if client.is_closed() {
        let e = e.to_string();
        return writes
            .iter()
            .map(|_| Err(StoreError::Unreachable(e.clone())))
            .collect();
    }
    if let [_] = writes {
        return vec![G::refused(e)];
    }
    tracing::debug!("{} writes sent one by one: {e}", writes.len());
    let mut answers = Vec::with_capacity(writes.len());
    for write in writes {
        answers.push(match G::all(client, std::slice::from_ref(write)).await {
            Ok(mut answer) => answer.pop().ok_or(StoreError::Closed),
            Err(e) => G::refused(e),
        });
    }
    answers
}
