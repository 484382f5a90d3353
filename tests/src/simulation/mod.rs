//! A deterministic simulation of the payment engine: the real engine and store on a real SQLite
//! file, under a simulated clock, with a network to the processor that delays, loses, duplicates,
//! refuses and delivers late, and crashes of the daemon wherever the pipeline waits between its phases. Every
//! choice comes from one seed, so a run replays exactly; each ends by checking CIP's promises
//! (`checks`).
//!
//! The engine runs on a single-threaded runtime whose clock moves only when the simulation moves
//! it. A step acts (a payment sent, a call let through the network, time moved on, a sweep, a
//! void, a refund, a crash), then lets everything run until nothing moves but the simulation: no task is
//! runnable and no store call is under way. So the order of everything is the seed's.

mod checks;
mod network;

use cip_common::error::ApiError;
use cip_common::payment::{Mode, Payment, PaymentRequest};
use cip_common::refund::{Refund, RefundReason, RefundRequest};
use cip_common::session::Role;
use cip_common::status::PaymentStatus;
use cip_daemon::admin::{Admin, Operator};
use cip_daemon::auth::Caller;
use cip_daemon::clock::{Clock, Entropy};
use cip_daemon::engine::{Engine, ProcessorWaits, Refunded, Submitted};
use cip_daemon::processor::sandbox::{LATE_BY, Sandbox, contract_rows};
use cip_daemon::store::{Store, StoreError, StoreLimits};
use network::{Behind, Delivery, Network};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The processor's deadline: above the sandbox's 3-second slow approval.
const DEADLINE_MS: u64 = 4_000;
/// After a deadline, before CIP first asks about the payment in doubt: below the late row's
/// arrival, so its reversal comes first.
const ASK_AFTER_MS: u64 = 1_000;
/// Agents taking payments at once, and payments each takes.
const AGENTS: usize = 3;
const PAYMENTS_PER_AGENT: usize = 3;
/// Runs of the daemon that end in a crash, then one calm run that brings everything to an end.
const CRASHING_RUNS: u64 = 2;
/// Most steps a run of the daemon takes before it is killed.
const STEPS_PER_RUN: usize = 40;
/// Rounds the calm run may take to bring every payment to its outcome.
const CALM_ROUNDS: usize = 40;
/// The simulated clock starts at 2026-11-18 12:00 UTC, mid business day.
const START_MS: i64 = 1_795_003_200_000;
/// How long a restart takes on the simulated clock.
const RESTART_MS: i64 = 1_000;

/// What a run did, for the figures and for comparing two runs of one seed.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub payments: usize,
    /// Refunds asked for (each under its own key), and how many of them CIP made.
    pub refunds: usize,
    pub refunds_made: usize,
    pub crashes: usize,
    pub steps: usize,
    /// Every step and every answer, in order.
    pub trace: Vec<String>,
}

/// Runs seeds, each on a copy of one database holding the demo's applications and users (made
/// once: hashing the demo passwords takes longer than a run).
pub struct Simulator {
    scratch: tempfile::TempDir,
    template: PathBuf,
}

impl Simulator {
    pub fn new() -> Simulator {
        // A memory file system where there is one: the runs' fsyncs cost nothing there.
        let shm = Path::new("/dev/shm");
        let scratch = if shm.is_dir() {
            tempfile::Builder::new().prefix("cip-sim").tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("cip-sim").tempdir()
        }
        .expect("a scratch directory");
        let built = scratch.path().join("built.db");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let admin = Admin {
                store: Store::open(&built, LIMITS).expect("the template database opens"),
                operator: Operator::from_env(),
                entropy: Entropy::seeded(0),
            };
            admin.load_demo().await.expect("the demo loads");
        });
        let template = scratch.path().join("template.db");
        rusqlite::Connection::open(&built)
            .and_then(|c| c.execute("VACUUM INTO ?1", [template.to_str().expect("UTF-8 path")]))
            .expect("the template is written");
        Simulator { scratch, template }
    }

    /// Runs `seed` and checks CIP's promises at the end; the error says which one broke.
    pub fn run(&self, seed: u64) -> Result<Report, String> {
        let dir = tempfile::tempdir_in(self.scratch.path()).map_err(|e| e.to_string())?;
        let db = dir.path().join("cip.db");
        std::fs::copy(&self.template, &db).map_err(|e| e.to_string())?;
        let mut world = World::new(seed, dir.path());
        for run in 0..=CRASHING_RUNS {
            world.run_daemon(run)?;
        }
        checks::check(&world)?;
        Ok(Report {
            payments: world.agents.iter().map(|a| a.work.len()).sum(),
            refunds: world.refunds.len(),
            refunds_made: world.refunds_made(),
            crashes: world.crashes,
            steps: world.steps,
            trace: world.trace,
        })
    }
}

impl Default for Simulator {
    fn default() -> Self {
        Simulator::new()
    }
}

const LIMITS: StoreLimits = StoreLimits {
    write_queue: 64,
    max_batch: 16,
    readers: 1,
};

/// The daemon's clock: the runtime's paused clock, from where the last run left it.
struct SimClock {
    base_ms: i64,
    start: tokio::time::Instant,
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.base_ms + i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// One payment an agent takes, every answer it heard for it, and the answers CIP gave that
/// never reached it (all of them checked at the end).
struct Work {
    key: String,
    caller: Caller,
    request: PaymentRequest,
    answers: Vec<Answer>,
    unheard: Vec<Answer>,
}

#[derive(Clone, Debug)]
enum Answer {
    Payment {
        id: String,
        status: PaymentStatus,
        confirmation_code: Option<String>,
    },
    Refused(ApiError),
}

impl Work {
    /// Whether the agent is done with it: an outcome, or a refusal to act on.
    fn finished(&self) -> bool {
        self.answers.iter().any(|a| match a {
            Answer::Payment { status, .. } => status.is_decided(),
            Answer::Refused(e) => !matches!(e, ApiError::Unavailable { .. }),
        })
    }
}

/// An agent at a service desk: takes its payments in order, sending each (under its own key)
/// again after anything but an outcome.
struct Agent {
    work: Vec<Work>,
    next: usize,
}

/// A refund a supervisor asked for under one key (sent again, same key, now and then), and
/// every answer it got (all of them checked at the end).
pub(crate) struct RefundAsk {
    key: String,
    payment_id: String,
    request: RefundRequest,
    answers: Vec<Result<Refund, ApiError>>,
}

/// What a spawned task was doing.
enum Task {
    Submit {
        agent: usize,
        work: usize,
    },
    Void(String),
    /// A send of the refund asked at this place in `World::refunds`.
    Refund(usize),
    Resolve,
    Sweep,
}

enum Done {
    Submitted(Result<Submitted, ApiError>),
    Moved(Result<Payment, ApiError>),
    Refunded(Result<Refunded, ApiError>),
    Swept(Result<usize, StoreError>),
}

struct World {
    seed: u64,
    rng: StdRng,
    dir: PathBuf,
    network: Arc<Mutex<Network>>,
    agents: Vec<Agent>,
    supervisor: Caller,
    /// Payments a supervisor asked to void, whatever the answer (a void cut short is carried to
    /// its end), and those the engine answered voided.
    void_asked: Vec<String>,
    voided: Vec<String>,
    refunds: Vec<RefundAsk>,
    now_ms: i64,
    crashes: usize,
    steps: usize,
    trace: Vec<String>,
}

fn caller(user: &str, role: Role, application: &str) -> Caller {
    Caller {
        user: user.to_owned(),
        role,
        application: application.to_owned(),
        grants: ["DMV-RENEWAL", "PARK-RESERVE", "TAX-PAYMENT"]
            .map(str::to_owned)
            .to_vec(),
    }
}

impl World {
    fn new(seed: u64, dir: &Path) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let rows = contract_rows();
        let agents = (0..AGENTS)
            .map(|a| Agent {
                work: (0..PAYMENTS_PER_AGENT)
                    .map(|n| {
                        let (application, mut request) =
                            crate::request_for(&rows[rng.random_range(0..rows.len())]);
                        request.amount_minor = rng.random_range(1..100_000);
                        Work {
                            key: format!("sim-{seed}-{a}-{n}"),
                            caller: caller("agent1", Role::Agent, application),
                            request,
                            answers: Vec::new(),
                            unheard: Vec::new(),
                        }
                    })
                    .collect(),
                next: 0,
            })
            .collect();
        World {
            seed,
            network: Network::new(
                StdRng::seed_from_u64(seed ^ 0x0005_eed0_f0a7_a6e5),
                rng.random_ratio(1, 8),
            ),
            rng,
            dir: dir.to_path_buf(),
            agents,
            supervisor: caller("super1", Role::Supervisor, "DMV-RENEWAL"),
            void_asked: Vec::new(),
            voided: Vec::new(),
            refunds: Vec::new(),
            now_ms: START_MS,
            crashes: 0,
            steps: 0,
            trace: Vec::new(),
        }
    }

    /// Refunds that succeeded, as the database has them at the end.
    fn refunds_made(&self) -> usize {
        rusqlite::Connection::open(self.db())
            .and_then(|db| {
                db.query_row(
                    "SELECT count(*) FROM refunds WHERE status = 'succeeded'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    fn network(&self) -> MutexGuard<'_, Network> {
        self.network.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db(&self) -> PathBuf {
        self.dir.join("cip.db")
    }

    fn ledger(&self) -> PathBuf {
        self.dir.join("ledger.tsv")
    }

    /// One run of the daemon, from its start to its crash (or, for the last, to the end of
    /// every payment). Dropping the runtime is the crash: every task stops where it waits.
    fn run_daemon(&mut self, run: u64) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .map_err(|e| e.to_string())?;
        let result = runtime.block_on(self.daemon(run));
        drop(runtime);
        self.network().forget_waiting();
        result
    }

    async fn daemon(&mut self, run: u64) -> Result<(), String> {
        let calm = run == CRASHING_RUNS;
        self.trace.push(format!("start {run}"));
        let store = Store::open(&self.db(), LIMITS).map_err(|e| e.to_string())?;
        let books = Sandbox::open(&self.ledger(), Duration::ZERO).map_err(|e| e.to_string())?;
        let clock = Arc::new(SimClock {
            base_ms: self.now_ms,
            start: tokio::time::Instant::now(),
        });
        let processor = Arc::new(Behind {
            books,
            network: Arc::clone(&self.network),
        });
        let engine = Arc::new(Engine::new(
            store.clone(),
            Arc::clone(&processor) as Arc<dyn cip_daemon::processor::Processor>,
            Arc::clone(&clock) as Arc<dyn Clock>,
            Entropy::seeded(self.seed.rotate_left(8) ^ run),
            [7; 32],
            ProcessorWaits {
                deadline: Duration::from_millis(DEADLINE_MS),
                ask_after: Duration::from_millis(ASK_AFTER_MS),
            },
        ));
        let mut daemon = DaemonRun {
            engine,
            processor,
            store,
            tasks: Vec::new(),
        };
        // As `cipd serve` does at start: settle what the last run left unsettled.
        daemon.sweep();
        self.step(&mut daemon).await;
        let outcome = if calm {
            self.network().calm();
            self.calm(&mut daemon).await
        } else {
            self.faults(&mut daemon).await;
            self.crashes += 1;
            Ok(())
        };
        self.now_ms = clock.now_ms() + RESTART_MS;
        self.trace.push(format!("crash at {}", self.now_ms));
        outcome
    }

    /// Random steps until the run is killed.
    async fn faults(&mut self, daemon: &mut DaemonRun) {
        for _ in 0..STEPS_PER_RUN {
            match self.rng.random_range(0..100) {
                0..30 => self.pay(daemon),
                30..60 => self.deliver(daemon),
                60..75 => {
                    let ms = self.rng.random_range(1..=DEADLINE_MS * 3 / 2);
                    self.trace.push(format!("advance {ms}"));
                    tokio::time::advance(Duration::from_millis(ms)).await;
                }
                75..85 => {
                    self.trace.push("sweep".to_owned());
                    daemon.sweep();
                }
                85..89 => self.void(daemon),
                89..93 => self.refund(daemon),
                93..97 => self.resolve(daemon),
                _ => return,
            }
            self.step(daemon).await;
        }
    }

    /// No faults: every payment is taken to its outcome and every agent told it.
    async fn calm(&mut self, daemon: &mut DaemonRun) -> Result<(), String> {
        for _ in 0..CALM_ROUNDS {
            // One at a time: two first reads of a run (an application's form) would finish
            // in either order.
            for agent in 0..self.agents.len() {
                if daemon.waiting_on(agent) == 0 {
                    self.send(daemon, agent);
                    self.step(daemon).await;
                }
            }
            while !self.network().waiting().is_empty() {
                self.network().deliver(0, Delivery::Answer);
                self.step(daemon).await;
            }
            self.arrive_late(daemon, usize::MAX);
            self.step(daemon).await;
            // Calls that never answer time out, and the slow approval comes.
            tokio::time::advance(Duration::from_millis(DEADLINE_MS + 1)).await;
            self.step(daemon).await;
            daemon.sweep();
            self.step(daemon).await;
            let refunds_pending = daemon
                .store
                .pending_refunds(1)
                .await
                .map_or(true, |pending| !pending.is_empty());
            if daemon.tasks.is_empty()
                && !refunds_pending
                && self.agents.iter().all(|a| a.next == a.work.len())
            {
                // The sandbox's own late row arrives after its deadline; a sweep then sees
                // anything it charged.
                tokio::time::advance(Duration::from_millis(DEADLINE_MS) + LATE_BY).await;
                self.step(daemon).await;
                daemon.sweep();
                self.step(daemon).await;
                return Ok(());
            }
        }
        Err(format!(
            "{CALM_ROUNDS} calm rounds did not bring every payment and refund to its outcome"
        ))
    }

    /// An agent sends its current payment, if it is not waiting on it; one that is sends it
    /// again now and then, as a network that delivers a request twice does.
    fn pay(&mut self, daemon: &mut DaemonRun) {
        let agent = self.rng.random_range(0..self.agents.len());
        if daemon.waiting_on(agent) == 0 || self.rng.random_ratio(1, 3) {
            self.send(daemon, agent);
        }
    }

    fn send(&mut self, daemon: &mut DaemonRun, agent: usize) {
        let a = &self.agents[agent];
        let Some(work) = a.work.get(a.next) else {
            return;
        };
        self.trace.push(format!("send {}", work.key));
        let (engine, caller, key, request) = (
            Arc::clone(&daemon.engine),
            work.caller.clone(),
            work.key.clone(),
            work.request.clone(),
        );
        daemon.spawn(
            Task::Submit {
                agent,
                work: a.next,
            },
            async move {
                Done::Submitted(
                    engine
                        .submit_once(&caller, Mode::Full, key, request)
                        .await,
                )
            },
        );
    }

    /// The network lets one waiting authorization through, in one of its ways, or one it held
    /// reaches the processor late.
    fn deliver(&mut self, daemon: &DaemonRun) {
        if !self.network().held.is_empty() && self.rng.random_ratio(1, 3) {
            self.arrive_late(daemon, 1);
            return;
        }
        let waiting = self.network().waiting().len();
        if waiting == 0 {
            return;
        }
        let index = self.rng.random_range(0..waiting);
        let delivery = match self.rng.random_range(0..10) {
            0..5 => Delivery::Answer,
            5 => Delivery::Late,
            6 => Delivery::Twice,
            7 => Delivery::LoseAnswer,
            8 => Delivery::LoseRequest,
            _ => Delivery::Refuse,
        };
        let reference = self.network().deliver(index, delivery);
        self.trace.push(format!("{delivery:?} {reference}"));
    }

    /// Up to `count` of the authorizations the network held reach the processor, oldest first.
    fn arrive_late(&mut self, daemon: &DaemonRun, count: usize) {
        let arriving: Vec<_> = {
            let mut network = self.network();
            let count = count.min(network.held.len());
            network.held.drain(..count).collect()
        };
        for held in arriving {
            self.trace.push(format!("arrives late {}", held.reference));
            daemon.processor.arrive(held);
        }
    }

    /// One of the payments an agent was told have `status`, if any.
    fn pick_told(&mut self, status: PaymentStatus) -> Option<String> {
        let mut ids: Vec<&String> = self
            .agents
            .iter()
            .flat_map(|a| &a.work)
            .flat_map(|w| &w.answers)
            .filter_map(|answer| match answer {
                Answer::Payment { id, status: s, .. } if *s == status => Some(id),
                _ => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        (!ids.is_empty()).then(|| ids[self.rng.random_range(0..ids.len())].clone())
    }

    /// A supervisor voids a payment an agent was told is approved.
    fn void(&mut self, daemon: &mut DaemonRun) {
        let Some(id) = self.pick_told(PaymentStatus::Approved) else {
            return;
        };
        self.trace.push(format!("void {id}"));
        self.void_asked.push(id.clone());
        let (engine, caller) = (Arc::clone(&daemon.engine), self.supervisor.clone());
        daemon.spawn(Task::Void(id.clone()), async move {
            Done::Moved(engine.void(&caller, &id, "simulation").await)
        });
    }

    /// A supervisor refunds part of a payment an agent was told is approved, or sends a refund
    /// asked before again under its key (a console that lost the answer).
    fn refund(&mut self, daemon: &mut DaemonRun) {
        let again = !self.refunds.is_empty() && self.rng.random_ratio(1, 3);
        let at = if again {
            self.rng.random_range(0..self.refunds.len())
        } else {
            let Some(payment_id) = self.pick_told(PaymentStatus::Approved) else {
                return;
            };
            self.refunds.push(RefundAsk {
                key: format!("sim-{}-refund-{}", self.seed, self.refunds.len()),
                payment_id,
                request: RefundRequest {
                    amount_minor: self.rng.random_range(1..60_000),
                    reason: RefundReason::RequestedByCustomer,
                    note: String::new(),
                    expected_refundable_minor: None,
                },
                answers: Vec::new(),
            });
            self.refunds.len() - 1
        };
        let ask = &self.refunds[at];
        self.trace
            .push(format!("refund {} of {}", ask.key, ask.payment_id));
        let (engine, caller) = (Arc::clone(&daemon.engine), self.supervisor.clone());
        let (id, key, request) = (ask.payment_id.clone(), ask.key.clone(), ask.request.clone());
        daemon.spawn(Task::Refund(at), async move {
            Done::Refunded(
                engine
                    .refund(&caller, &id, key, request, "simulation")
                    .await,
            )
        });
    }

    /// A supervisor asks the processor now about a payment an agent was told is in doubt.
    fn resolve(&mut self, daemon: &mut DaemonRun) {
        let Some(id) = self.pick_told(PaymentStatus::InDoubt) else {
            return;
        };
        self.trace.push(format!("resolve {id}"));
        let (engine, caller) = (Arc::clone(&daemon.engine), self.supervisor.clone());
        daemon.spawn(Task::Resolve, async move {
            Done::Moved(engine.resolve_now(&caller, &id, "simulation").await)
        });
    }

    /// Lets everything run until only the simulation can move things, then hears the answers.
    async fn step(&mut self, daemon: &mut DaemonRun) {
        self.steps += 1;
        daemon.settle().await;
        for (task, done) in daemon.finished() {
            self.hear(task, done);
        }
    }

    fn hear(&mut self, task: Task, done: Done) {
        match (task, done) {
            (Task::Submit { agent, work }, Done::Submitted(answer)) => {
                let answer = match answer {
                    Ok(submitted) => Answer::Payment {
                        id: submitted.payment.id,
                        status: submitted.payment.status,
                        confirmation_code: submitted.payment.confirmation_code,
                    },
                    Err(e) => Answer::Refused(e),
                };
                // Now and then the connection drops after CIP answered: the agent never hears.
                if !self.network().is_calm() && self.rng.random_ratio(1, 10) {
                    self.trace.push(format!("lost answer to agent {agent}"));
                    self.agents[agent].work[work].unheard.push(answer);
                    return;
                }
                self.trace.push(format!("agent {agent} told {answer:?}"));
                let agent = &mut self.agents[agent];
                agent.work[work].answers.push(answer);
                if work == agent.next && agent.work[work].finished() {
                    agent.next += 1;
                }
            }
            (Task::Void(id), Done::Moved(moved)) => {
                self.trace
                    .push(format!("void {id}: {:?}", moved.as_ref().map(|p| p.status)));
                if moved.is_ok() {
                    self.voided.push(id);
                }
            }
            (Task::Refund(at), Done::Refunded(refunded)) => {
                let answer = refunded.map(|r| r.refund);
                self.trace.push(format!(
                    "{} told {:?}",
                    self.refunds[at].key,
                    answer.as_ref().map(|r| (&r.id, r.status))
                ));
                self.refunds[at].answers.push(answer);
            }
            (_, Done::Moved(moved)) => {
                self.trace
                    .push(format!("moved {:?}", moved.map(|p| (p.id, p.status))));
            }
            (_, Done::Swept(swept)) => self.trace.push(format!("swept {swept:?}")),
            (_, Done::Submitted(_)) => unreachable!("only a submit task submits"),
            (_, Done::Refunded(_)) => unreachable!("only a refund task refunds"),
        }
    }
}

/// One run of the daemon: its engine and the tasks it is carrying.
struct DaemonRun {
    engine: Arc<Engine>,
    processor: Arc<Behind>,
    store: Store,
    tasks: Vec<(Task, JoinHandle<Done>)>,
}

impl DaemonRun {
    fn spawn(&mut self, task: Task, work: impl Future<Output = Done> + Send + 'static) {
        self.tasks.push((task, tokio::spawn(work)));
    }

    fn sweep(&mut self) {
        let engine = Arc::clone(&self.engine);
        self.spawn(Task::Sweep, async move {
            Done::Swept(engine.resolve_unsettled().await.map(|swept| swept.settled))
        });
    }

    /// Sends of `agent` still waiting for an answer.
    fn waiting_on(&self, agent: usize) -> usize {
        self.tasks
            .iter()
            .filter(|(t, _)| matches!(t, Task::Submit { agent: a, .. } if *a == agent))
            .count()
    }

    /// Returns once every runnable task has run and no store call is under way. The runtime
    /// never idles meanwhile, so its paused clock never jumps ahead by itself.
    async fn settle(&self) {
        let mut quiet = 0;
        while quiet < 2 {
            tokio::task::yield_now().await;
            if self.store.calls_in_progress() == 0 {
                quiet += 1;
            } else {
                quiet = 0;
                // The writer thread commits meanwhile.
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }

    /// The tasks that have finished, in the order they were started.
    fn finished(&mut self) -> Vec<(Task, Done)> {
        let (done, running) = std::mem::take(&mut self.tasks)
            .into_iter()
            .partition(|(_, handle)| handle.is_finished());
        self.tasks = running;
        done.into_iter()
            .map(|(task, handle)| {
                let done = futures::FutureExt::now_or_never(handle)
                    .expect("a finished task has its output")
                    .expect("a simulated task does not panic");
                (task, done)
            })
            .collect()
    }
}
