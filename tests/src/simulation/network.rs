//! The processor under simulation: the sandbox's own decisions and books, behind a network the
//! simulation controls. Every authorization waits at the door until the simulation says what the
//! network does with it (one it holds may reach the processor long after CIP gave up on it, even
//! after CIP restarted); inquiries, voids, refunds and reversals meet outages drawn from the seed.
//! Now and then the processor is one that breaks its word and lets an authorization through after
//! its reversal, so CIP's watch for late approvals is tried too.

use cip_common::money::Money;
use cip_common::payment::PaymentMethod;
use cip_daemon::processor::sandbox::Sandbox;
use cip_daemon::processor::{
    Authorization, Inquiry, Outcome, Processor, ProcessorError, ProcessorFuture, Refund,
    RefundOutcome,
};
use rand::RngExt;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// What the network does with one authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The processor decides and the answer comes back.
    Answer,
    /// The request arrives twice; the processor must charge once.
    Twice,
    /// The processor decides, and the answer is lost on the way back.
    LoseAnswer,
    /// The request is lost on the way: nothing is charged and no answer comes.
    LoseRequest,
    /// The connection is refused before anything is sent.
    Refuse,
    /// The network holds the request: it reaches the processor later, whether or not CIP still
    /// waits, and no answer comes.
    Late,
}

/// An authorization the network holds, to arrive late.
pub struct Held {
    pub reference: String,
    pub amount: Money,
    pub method: PaymentMethod,
    pub deadline: Duration,
}

/// The network's side of the simulation, kept across restarts of the daemon (it is not the
/// daemon's): the calls waiting at the door, and how often CIP sent each reference.
pub struct Network {
    waiting: Vec<(Held, oneshot::Sender<Delivery>)>,
    /// Authorizations held to arrive late, in the order the network took them.
    pub held: Vec<Held>,
    /// Authorizations CIP sent, by reference: never more than one each.
    pub sent: BTreeMap<String, usize>,
    /// Outages of inquiries, voids, refunds and reversals, from the seed; none once the run
    /// winds down.
    outages: Option<StdRng>,
    /// The processor acknowledges reversals and forgets them: a late authorization charges.
    pub breaks_reversals: bool,
}

impl Network {
    pub fn new(outages: StdRng, breaks_reversals: bool) -> Arc<Mutex<Network>> {
        Arc::new(Mutex::new(Network {
            waiting: Vec::new(),
            held: Vec::new(),
            sent: BTreeMap::new(),
            outages: Some(outages),
            breaks_reversals,
        }))
    }

    /// References of the authorizations waiting at the door, in the order they came.
    pub fn waiting(&self) -> Vec<String> {
        self.waiting
            .iter()
            .map(|(held, _)| held.reference.clone())
            .collect()
    }

    /// Lets the `index`th waiting authorization through as `delivery` says.
    pub fn deliver(&mut self, index: usize, delivery: Delivery) -> String {
        let (held, door) = self.waiting.remove(index);
        let reference = held.reference.clone();
        if delivery == Delivery::Late {
            self.held.push(held);
        }
        // A call given up on (its deadline passed) is no longer listening: nothing happens.
        let _ = door.send(delivery);
        reference
    }

    /// A crash of the daemon: its calls at the door go nowhere.
    pub fn forget_waiting(&mut self) {
        self.waiting.clear();
    }

    /// From now on, inquiries and voids always get through.
    pub fn calm(&mut self) {
        self.outages = None;
    }

    pub fn is_calm(&self) -> bool {
        self.outages.is_none()
    }

    fn outage(&mut self) -> bool {
        self.outages
            .as_mut()
            .is_some_and(|rng| rng.random_ratio(1, 4))
    }
}

/// The sandbox behind the simulated network.
pub struct Behind {
    pub books: Sandbox,
    pub network: Arc<Mutex<Network>>,
}

impl Behind {
    /// A held authorization reaches the processor now; nobody waits for its answer.
    pub fn arrive(self: &Arc<Self>, held: Held) {
        let behind = Arc::clone(self);
        tokio::spawn(async move {
            let request = Authorization {
                reference: &held.reference,
                amount: held.amount,
                method: &held.method,
                deadline: held.deadline,
            };
            let _ = behind.books.authorize(request).await;
        });
    }

    fn network(&self) -> MutexGuard<'_, Network> {
        self.network.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unreachable<T>(&self) -> Option<Result<T, ProcessorError>> {
        self.network()
            .outage()
            .then(|| Err(ProcessorError::Unreachable("simulated outage".to_owned())))
    }
}

impl Processor for Behind {
    fn authorize<'a>(
        &'a self,
        request: Authorization<'a>,
    ) -> ProcessorFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let (door, delivery) = oneshot::channel();
            {
                let mut network = self.network();
                *network
                    .sent
                    .entry(request.reference.to_owned())
                    .or_default() += 1;
                let held = Held {
                    reference: request.reference.to_owned(),
                    amount: request.amount,
                    method: request.method.clone(),
                    deadline: request.deadline,
                };
                network.waiting.push((held, door));
            }
            let Ok(delivery) = delivery.await else {
                return std::future::pending().await;
            };
            match delivery {
                Delivery::Answer => self.books.authorize(request).await,
                Delivery::Twice => {
                    let again = Authorization {
                        reference: request.reference,
                        amount: request.amount,
                        method: request.method,
                        deadline: request.deadline,
                    };
                    let (first, _) =
                        futures::join!(self.books.authorize(request), self.books.authorize(again));
                    first
                }
                Delivery::LoseAnswer => {
                    let _ = self.books.authorize(request).await;
                    std::future::pending().await
                }
                Delivery::LoseRequest | Delivery::Late => std::future::pending().await,
                Delivery::Refuse => Ok(Outcome::Failed {
                    code: "processor_unavailable".to_owned(),
                }),
            }
        })
    }

    fn inquire<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<Inquiry, ProcessorError>> {
        match self.unreachable() {
            Some(outage) => Box::pin(std::future::ready(outage)),
            None => self.books.inquire(reference),
        }
    }

    fn void<'a>(&'a self, reference: &'a str) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        match self.unreachable() {
            Some(outage) => Box::pin(std::future::ready(outage)),
            None => self.books.void(reference),
        }
    }

    fn refund<'a>(
        &'a self,
        request: Refund<'a>,
    ) -> ProcessorFuture<'a, Result<RefundOutcome, ProcessorError>> {
        match self.unreachable() {
            Some(outage) => Box::pin(std::future::ready(outage)),
            None => self.books.refund(request),
        }
    }

    fn reverse<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        match self.unreachable() {
            Some(outage) => Box::pin(std::future::ready(outage)),
            None if self.network().breaks_reversals => Box::pin(std::future::ready(Ok(()))),
            None => self.books.reverse(reference),
        }
    }
}
