//! The processor under simulation: the sandbox's own decisions and books, behind a network the
//! simulation controls. Every authorization waits at the door until the simulation says what the
//! network does with it; inquiries and voids meet outages drawn from the seed.

use cip_daemon::processor::sandbox::Sandbox;
use cip_daemon::processor::{
    Authorization, Inquiry, Outcome, Processor, ProcessorError, ProcessorFuture,
};
use rand::RngExt;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
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
}

/// The network's side of the simulation, kept across restarts of the daemon (it is not the
/// daemon's): the calls waiting at the door, and how often CIP sent each reference.
pub struct Network {
    waiting: Vec<(String, oneshot::Sender<Delivery>)>,
    /// Authorizations CIP sent, by reference: never more than one each.
    pub sent: BTreeMap<String, usize>,
    /// Outages of inquiries and voids, from the seed; none once the run winds down.
    outages: Option<StdRng>,
}

impl Network {
    pub fn new(outages: StdRng) -> Arc<Mutex<Network>> {
        Arc::new(Mutex::new(Network {
            waiting: Vec::new(),
            sent: BTreeMap::new(),
            outages: Some(outages),
        }))
    }

    /// References of the authorizations waiting at the door, in the order they came.
    pub fn waiting(&self) -> Vec<String> {
        self.waiting.iter().map(|(r, _)| r.clone()).collect()
    }

    /// Lets the `index`th waiting authorization through as `delivery` says.
    pub fn deliver(&mut self, index: usize, delivery: Delivery) -> String {
        let (reference, door) = self.waiting.remove(index);
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
    fn authorize<'a>(&'a self, request: Authorization<'a>) -> ProcessorFuture<'a, Outcome> {
        Box::pin(async move {
            let (door, delivery) = oneshot::channel();
            {
                let mut network = self.network();
                *network
                    .sent
                    .entry(request.reference.to_owned())
                    .or_default() += 1;
                network.waiting.push((request.reference.to_owned(), door));
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
                    };
                    let (first, _) =
                        futures::join!(self.books.authorize(request), self.books.authorize(again));
                    first
                }
                Delivery::LoseAnswer => {
                    self.books.authorize(request).await;
                    std::future::pending().await
                }
                Delivery::LoseRequest => std::future::pending().await,
                Delivery::Refuse => Outcome::Failed {
                    code: "processor_unavailable".to_owned(),
                },
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
}
