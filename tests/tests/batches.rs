//! Batch reports as an agency receives them: every decided payment reaches the outbox in exactly
//! one complete batch (CSV and manifest, sha256 matching), even when `cipd report run` is killed
//! at any point and run again while payments keep coming in.

use cip_common::event::{EventDetail, EventKind};
use cip_common::payment::PaymentLookup;
use cip_common::secret::SessionToken;
use cip_tests::{Daemon, card_request, csv_rows, ctx, new_key};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tarpc::client::RpcError;

const APP: &str = "DMV-RENEWAL";

/// Takes `count` payments, one in five declined, from `tasks` agents at once.
async fn pay(daemon: &Daemon, agent: &SessionToken, count: usize, tasks: usize) {
    let mut running = Vec::new();
    for task in 0..tasks {
        let (client, agent) = (daemon.client().await, agent.clone());
        running.push(tokio::spawn(async move {
            for n in (task..count).step_by(tasks) {
                let number = match n % 5 {
                    0 => "4000000000000002",
                    _ => "4242424242424242",
                };
                let taken: Result<_, RpcError> = client
                    .submit(ctx(), agent.clone(), new_key(), card_request(number, 500))
                    .await;
                taken.expect("rpc").expect("decided");
            }
        }));
    }
    for task in running {
        task.await.expect("payments taken");
    }
}

/// The outbox's file names.
fn listing(outbox: &Path) -> Vec<String> {
    std::fs::read_dir(outbox)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A small seeded generator for kill times (the seed is printed, so a failure can be replayed).
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_batch_runs_then_a_rerun_report_every_payment_exactly_once() {
    let daemon = Daemon::start().await;
    let client = daemon.client().await;
    let agent = daemon.login(&client, APP, "agent1").await;
    let outbox = daemon.dir.path().join("outbox").join(APP);
    let seed = cip_tests::seed("kill times");
    let mut random = Seeded(seed);

    // Payments keep coming in while batches run and die.
    pay(&daemon, &agent, 1_500, 8).await;
    let flowing = Arc::new(AtomicBool::new(true));
    let background = {
        let (client, agent, flowing) = (daemon.client().await, agent.clone(), flowing.clone());
        tokio::spawn(async move {
            let mut taken = 0;
            while flowing.load(Ordering::Relaxed) {
                client
                    .submit(
                        ctx(),
                        agent.clone(),
                        new_key(),
                        card_request("4242424242424242", 700),
                    )
                    .await
                    .expect("rpc")
                    .expect("decided");
                taken += 1;
            }
            taken
        })
    };

    let mut resumed = 0;
    for round in 0..6 {
        pay(&daemon, &agent, 400, 4).await;
        let mut run = daemon.spawn_cipd(&["report", "run", "--app", APP]);
        let started = Instant::now();
        let delay = Duration::from_millis(random.below(400));
        // Half the rounds die as soon as a batch file is being written; the rest at a random
        // moment, possibly before the claim or after the run has ended.
        while run.try_wait().expect("waitable").is_none() {
            let writing = listing(&outbox).iter().any(|f| f.ends_with(".part"));
            if (round % 2 == 0 && writing) || (round % 2 == 1 && started.elapsed() >= delay) {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        run.kill().expect("killed");
        let out = run.wait_with_output().expect("ended");
        resumed += String::from_utf8_lossy(&out.stdout)
            .matches("finished batch")
            .count();
        // The next run finishes whatever this one left.
        let out = daemon.cipd(&["report", "run", "--app", APP], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        resumed += String::from_utf8_lossy(&out.stdout)
            .matches("finished batch")
            .count();
    }
    flowing.store(false, Ordering::Relaxed);
    let background_taken: usize = background.await.expect("background payments");
    let out = daemon.cipd(&["report", "run", "--app", APP], None);
    assert!(out.status.success());

    // Every batch in the outbox is complete and whole.
    let names = listing(&outbox);
    assert!(
        !names.iter().any(|n| n.ends_with(".part")),
        "a temporary file stayed: {names:?}"
    );
    let mut reported: BTreeMap<String, String> = BTreeMap::new();
    let manifests: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(".manifest.json"))
        .collect();
    for name in &manifests {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(outbox.join(name)).expect("manifest"))
                .expect("manifest is JSON");
        let batch = manifest["batch_id"].as_str().expect("batch_id").to_owned();
        let csv = std::fs::read(outbox.join(manifest["file"].as_str().expect("file")))
            .expect("the manifest's file is there");
        assert_eq!(
            manifest["sha256"].as_str(),
            Some(format!("{:x}", Sha256::digest(&csv)).as_str()),
            "{name}: the file is not the one the manifest describes"
        );
        let rows = csv_rows(&csv);
        assert_eq!(manifest["payment_count"].as_u64(), Some(rows.len() as u64));
        let approved = rows.iter().filter(|r| r["status"] == "approved").count();
        assert_eq!(
            manifest["totals"]["approved"]["count"]
                .as_u64()
                .unwrap_or(0),
            approved as u64
        );
        for row in rows {
            assert_eq!(row["batch_id"], batch);
            if let Some(earlier) = reported.insert(row["payment_id"].clone(), batch.clone()) {
                panic!(
                    "{} is in {earlier} and in {batch} (seed {seed})",
                    row["payment_id"]
                );
            }
        }
    }
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".csv")).count(),
        manifests.len(),
        "a batch file without its manifest: {names:?}"
    );

    // …and together they hold every payment taken, each decided.
    let export = daemon.cipd(&["report", "export", "--app", APP], None);
    let taken: BTreeSet<String> = csv_rows(&export.stdout)
        .into_iter()
        .map(|r| r["payment_id"].clone())
        .collect();
    assert_eq!(taken.len(), 1_500 + 6 * 400 + background_taken);
    assert_eq!(
        taken,
        reported.keys().cloned().collect(),
        "payments missing from every batch (seed {seed})"
    );

    // A supervisor's feed shows each batch once; a payment's record names its batch.
    let supervisor = daemon.login(&client, APP, "super1").await;
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = client
            .events(ctx(), supervisor.clone(), after, 1000, 0)
            .await
            .expect("rpc")
            .expect("events");
        events.extend(page.events);
        if page.next_seq == after {
            break;
        }
        after = page.next_seq;
    }
    let announced: Vec<String> = events
        .iter()
        .filter(|e| e.kind == EventKind::BatchTransmitted)
        .map(|e| match &e.detail {
            EventDetail::Batch { batch_id, .. } => batch_id.clone(),
            other => panic!("a batch event names its batch: {other:?}"),
        })
        .collect();
    let in_outbox: BTreeSet<String> = manifests
        .iter()
        .map(|n| n.trim_end_matches(".manifest.json").to_owned())
        .collect();
    assert_eq!(announced.len(), in_outbox.len(), "{announced:?}");
    assert_eq!(announced.into_iter().collect::<BTreeSet<_>>(), in_outbox);
    let (payment_id, batch) = reported.iter().next().expect("a payment");
    let payment = client
        .payment(ctx(), agent, PaymentLookup::Id(payment_id.clone()))
        .await
        .expect("rpc")
        .expect("found");
    let mark = payment.batch.expect("the payment knows its batch");
    assert_eq!(&mark.id, batch);
    assert!(mark.transmitted_ms.is_some());
    daemon.assert_no_card_data();
    assert!(
        resumed > 0,
        "no kill landed inside a batch run, so nothing was tested (seed {seed})"
    );
}

const SCHEDULED: &str = "\
[[application]]
id = \"DOG-LICENSE\"
name = \"Dog licence\"
currency = \"USD\"
min_amount_minor = 100
max_amount_minor = 50000
methods = [\"card\"]
time_zone = \"America/Chicago\"
report_daily_at = \"00:00\"
";

/// Signs in a user `Daemon::add_user` added.
async fn sign_in(client: &cip_common::service::CipClient, user: &str) -> SessionToken {
    client
        .login(
            ctx(),
            "DOG-LICENSE".into(),
            user.into(),
            cip_common::secret::Password::new(format!("{user}-pass-2026")),
        )
        .await
        .expect("rpc")
        .expect("signed in")
        .token
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_batch_runs_in_the_agency_s_time_zone_and_reconciliation_adds_up() {
    let mut daemon = Daemon::start().await;
    daemon.add_application(SCHEDULED);
    daemon.add_user("dog-agent", "agent", "DOG-LICENSE");
    daemon.add_user("dog-super", "supervisor", "DOG-LICENSE");
    let client = daemon.client().await;
    let agent = sign_in(&client, "dog-agent").await;
    for (number, amount) in [
        ("4242424242424242", 1_500),
        ("4242424242424242", 2_500),
        ("4000000000009995", 9_900),
        ("4000000000000309", 4_000),
    ] {
        let mut request = card_request(number, amount);
        request.fields.clear();
        daemon.sent(&request);
        client
            .submit(ctx(), agent.clone(), new_key(), request)
            .await
            .expect("rpc")
            .expect("taken");
    }

    // Today in Chicago: two approved, one declined, one in doubt and listed by id.
    let in_doubt = client
        .search(
            ctx(),
            agent.clone(),
            cip_common::payment::SearchQuery {
                status: Some(cip_common::status::PaymentStatus::InDoubt),
                ..Default::default()
            },
        )
        .await
        .expect("rpc")
        .expect("searched")
        .payments
        .pop()
        .expect("one payment in doubt");
    let out = daemon.cipd(&["report", "reconcile", "--app", "DOG-LICENSE"], None);
    assert!(out.status.success());
    // Compared word by word: the table's spacing is for the eye.
    let words = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let text = words(&out.stdout);
    assert!(text.contains("(America/Chicago)"), "{text}");
    for line in [
        "approved card 2 40.00 USD",
        "declined card 1 99.00 USD",
        "in_doubt card 1 40.00 USD",
        "reported to the agency: 0; not yet: 4",
        "1 not settled",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(text.contains(&in_doubt.id), "{text}");

    // The application is new: its first run is at its next midnight in Chicago, so nothing
    // was sent. Had it existed for days, today's midnight run would be due; the daemon, finding
    // it missed, makes it when it starts (after settling the payment in doubt, which the
    // sandbox then approves).
    let outbox = daemon.dir.path().join("outbox").join("DOG-LICENSE");
    assert!(listing(&outbox).is_empty());
    daemon.kill();
    daemon.sql(
        "UPDATE applications SET created_ms = created_ms - 3 * 86400000 WHERE id = 'DOG-LICENSE'",
    );
    daemon.serve().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !listing(&outbox)
        .iter()
        .any(|n| n.ends_with(".manifest.json"))
    {
        assert!(
            Instant::now() < deadline,
            "no scheduled batch in {outbox:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = daemon.client().await;
    let supervisor = sign_in(&client, "dog-super").await;
    let batch = client
        .events(ctx(), supervisor.clone(), 0, 1000, 0)
        .await
        .expect("rpc")
        .expect("events")
        .events
        .into_iter()
        .find(|e| e.kind == EventKind::BatchTransmitted)
        .expect("the feed shows the batch");
    match batch.detail {
        EventDetail::Batch {
            payment_count,
            approved,
            actor,
            ..
        } => {
            assert_eq!(payment_count, 4);
            assert_eq!(approved.minor, 8_000);
            assert_eq!(actor, "schedule");
        }
        other => panic!("a batch event: {other:?}"),
    }
    // What the agency was told stays true: a reported approval is no longer voided.
    let refused = client
        .void(ctx(), supervisor, in_doubt.id.clone())
        .await
        .expect("rpc")
        .expect_err("refused");
    assert!(
        refused.to_string().contains("reported to the agency")
            && refused.to_string().contains("refund it"),
        "{refused}"
    );
    let out = daemon.cipd(&["report", "reconcile", "--app", "DOG-LICENSE"], None);
    let text = words(&out.stdout);
    assert!(
        text.contains("approved card 3 80.00 USD")
            && text.contains("reported to the agency: 4; not yet: 0")
            && text.contains("no payment of this day is in doubt"),
        "{text}"
    );
    daemon.assert_no_card_data();
}
