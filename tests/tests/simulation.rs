//! The seeded simulation (`cip_tests::simulation`): the engine and store under a simulated clock,
//! a faulty network to the processor and crashes between the pipeline's phases, run for many
//! seeds, each checked at its end. `CIP_SIM_SEEDS` sets how many (10,000 by default),
//! `CIP_SIM_FIRST` the first, and `CIP_SIM_SEED` replays one.

use cip_tests::simulation::Simulator;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} is a number, not {v:?}"))
    })
}

#[test]
fn every_seed_keeps_every_promise() {
    let (first, count) = match setting("CIP_SIM_SEED") {
        Some(seed) => (seed, 1),
        None => (
            setting("CIP_SIM_FIRST").unwrap_or(0),
            setting("CIP_SIM_SEEDS").unwrap_or(10_000),
        ),
    };
    let simulator = Simulator::new();
    let started = Instant::now();
    let next = AtomicU64::new(first);
    let (payments, refunds, refunds_made, crashes, steps) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let failures = std::sync::Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= first + count {
                        break;
                    }
                    // A panic is a broken promise too, and its seed is wanted as much.
                    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| simulator.run(seed)))
                        .unwrap_or_else(|panic| {
                            let message = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_default();
                            Err(format!("panicked: {message}"))
                        });
                    match ran {
                        Ok(report) => {
                            payments.fetch_add(report.payments, Ordering::Relaxed);
                            refunds.fetch_add(report.refunds, Ordering::Relaxed);
                            refunds_made.fetch_add(report.refunds_made, Ordering::Relaxed);
                            crashes.fetch_add(report.crashes, Ordering::Relaxed);
                            steps.fetch_add(report.steps, Ordering::Relaxed);
                        }
                        Err(broken) => failures
                            .lock()
                            .expect("not poisoned")
                            .push(format!("seed {seed}: {broken}")),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("not poisoned");
    eprintln!(
        "{count} seeds from {first}: {} payments, {} refunds asked ({} made), {} crashes, {} steps in {:.1} s",
        payments.into_inner(),
        refunds.into_inner(),
        refunds_made.into_inner(),
        crashes.into_inner(),
        steps.into_inner(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} seeds broke a promise (replay one with CIP_SIM_SEED=N):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_seed_replays_exactly() {
    let simulator = Simulator::new();
    let mut steps = String::new();
    for seed in 0..20 {
        let first = simulator.run(seed).expect("the run keeps every promise");
        let again = simulator.run(seed).expect("the run keeps every promise");
        assert_eq!(first, again, "seed {seed} ran differently the second time");
        steps.extend(first.trace.iter().map(|step| format!("{step}\n")));
    }
    // These seeds between them meet every fault the simulation has.
    for fault in [
        "Answer ",
        "Twice ",
        "LoseAnswer ",
        "LoseRequest ",
        "Refuse ",
        "advance ",
        "lost answer",
        "void ",
        "resolve ",
        "crash at",
    ] {
        assert!(steps.contains(fault), "no seed of 0..20 met {fault:?}");
    }
}
