//! Batch reports: every decided payment and every decided refund of an application that no batch
//! has taken goes into exactly one batch file in the application's outbox
//! (`<outbox>/<APPLICATION>/`). A refund goes into the first batch after it was decided, however
//! long before its payment was reported; the manifest gives the payments by status, the refunds
//! by status, and the net: approved payments less refunds that succeeded.
//!
//! A run claims them in one transaction (each records the batch's id), then writes
//! `<batch>.csv` and `<batch>.manifest.json` from that claim, each to a temporary file that is
//! fsynced and renamed into place, the manifest last: a batch is complete once its manifest is
//! there. Only then is the batch marked transmitted, with its `batch.transmitted` event. A run
//! cut short leaves its batch claimed and untransmitted; the next run writes that batch again
//! from the same claim before it claims anything new, so no payment is in two batches and none
//! is missed.

use super::{export_csv, rfc3339};
use crate::clock::{Clock, Entropy};
use crate::store::accounts::AuditEntry;
use crate::store::batches::{Claimed, Transmitted};
use crate::store::claims::Work;
use crate::store::payments::{ReportLine, Selection};
use crate::store::{Rows, Store};
use anyhow::Context;
use cip_common::form::ApplicationSpec;
use cip_common::money::{Currency, Money};
use cip_common::refund::RefundStatus;
use cip_common::status::PaymentStatus;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

pub use super::Runner;

/// What a run left in the outbox.
#[derive(Debug)]
pub struct BatchFile {
    pub id: String,
    pub payment_count: u64,
    pub refund_count: u64,
    pub csv: PathBuf,
    pub manifest: PathBuf,
    /// A batch an earlier run claimed but did not finish.
    pub resumed: bool,
}

/// The payments, or the refunds, of one status in a batch.
#[derive(Default, Serialize)]
struct StatusTotal {
    count: u64,
    #[serde(skip)]
    minor: i64,
    amount: String,
}

#[derive(Serialize)]
struct Manifest<'a> {
    batch_id: &'a str,
    application: &'a str,
    claimed: String,
    file: String,
    payment_count: u64,
    refund_count: u64,
    sha256: &'a str,
    currency: &'static str,
    /// The payments by status.
    totals: BTreeMap<&'static str, StatusTotal>,
    /// The refunds by status, their amounts negative.
    refund_totals: BTreeMap<&'static str, StatusTotal>,
    /// Approved payments less refunds that succeeded: what the batch moved to the agency.
    net_amount: String,
}

impl StatusTotal {
    fn add(&mut self, minor: i64) {
        self.count += 1;
        self.minor += minor;
    }
}

/// Sums `totals` and writes each in `currency`; returns the sum of `status`'s.
fn written(
    totals: &mut BTreeMap<&'static str, StatusTotal>,
    currency: Currency,
    status: &str,
) -> i64 {
    for total in totals.values_mut() {
        total.amount = Money::new(total.minor, currency).plain_decimal();
    }
    totals.get(status).map_or(0, |t| t.minor)
}

/// Passes bytes on and hashes them.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hash.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Makes what changed in `dir` (a rename, a new entry) durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Writes `name` in `dir` whole or not at all: a temporary file of this run's own, fsynced,
/// then renamed over `name`, and the rename made durable.
fn write_atomically<T>(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let part = dir.join(format!(".{name}.{}.part", std::process::id()));
    let file =
        std::fs::File::create(&part).with_context(|| format!("cannot write {}", part.display()))?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, &file);
    let value = write(&mut out)?;
    out.flush()
        .with_context(|| format!("cannot write {}", part.display()))?;
    drop(out);
    file.sync_all()
        .with_context(|| format!("cannot sync {}", part.display()))?;
    let path = dir.join(name);
    std::fs::rename(&part, &path)
        .with_context(|| format!("cannot rename {} to {}", part.display(), path.display()))?;
    sync_dir(dir)?;
    Ok(value)
}

/// Removes the temporary files of runs that died (the lock says none is running).
fn remove_stale_parts(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with(".bat_") && n.ends_with(".part")) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Writes the batch's file and manifest from `lines`, those of its claim; returns the file's
/// sha256 and what its approved payments come to.
fn write_files(
    lines: Rows<ReportLine>,
    spec: &ApplicationSpec,
    batch: &Claimed,
    dir: &Path,
) -> anyhow::Result<(String, Money)> {
    let file = format!("{}.csv", batch.id);
    let mut totals: BTreeMap<&'static str, StatusTotal> = BTreeMap::new();
    let mut refund_totals: BTreeMap<&'static str, StatusTotal> = BTreeMap::new();
    let sha256 = write_atomically(dir, &file, |out| {
        let mut hashing = Hashing {
            inner: out,
            hash: Sha256::new(),
        };
        export_csv(spec, true, lines, &mut hashing, |line, _| {
            match line {
                ReportLine::Payment(p) => totals
                    .entry(p.status.code())
                    .or_default()
                    .add(p.amount.minor),
                ReportLine::Refund(r, _) => refund_totals
                    .entry(r.status.code())
                    .or_default()
                    .add(-r.amount.minor),
            }
            ControlFlow::Continue(())
        })?;
        Ok(format!("{:x}", hashing.hash.finalize()))
    })?;
    let approved = written(&mut totals, spec.currency, PaymentStatus::Approved.code());
    let refunded = written(
        &mut refund_totals,
        spec.currency,
        RefundStatus::Succeeded.code(),
    );
    let manifest = Manifest {
        batch_id: &batch.id,
        application: &spec.id,
        claimed: rfc3339(batch.created_ms),
        file,
        payment_count: totals.values().map(|t| t.count).sum(),
        refund_count: refund_totals.values().map(|t| t.count).sum(),
        sha256: &sha256,
        currency: spec.currency.code(),
        totals,
        refund_totals,
        net_amount: Money::new(approved + refunded, spec.currency).plain_decimal(),
    };
    write_atomically(dir, &format!("{}.manifest.json", batch.id), |out| {
        serde_json::to_writer_pretty(&mut *out, &manifest)?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    Ok((sha256, Money::new(approved, spec.currency)))
}

/// Runs `spec`'s batch into `outbox`: first any batch an earlier run left unfinished, then a new
/// one with every decided payment no batch has taken (possibly none: the file then says so).
/// With `due_ms`, only if no batch was done since (the daily schedule, asked again once the run
/// is held, as another daemon may have run it meanwhile). `None`: another run of `spec`'s batch,
/// in this process or another daemon, holds it.
pub async fn run(
    store: &Store,
    clock: &dyn Clock,
    entropy: &Entropy,
    spec: &ApplicationSpec,
    outbox: &Path,
    runner: &Runner,
    due_ms: Option<i64>,
) -> anyhow::Result<Option<Vec<BatchFile>>> {
    let dir = outbox.join(&spec.id);
    if !dir.exists() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        sync_dir(outbox)?;
    }
    // One run per outbox at a time, across processes; the lock goes with the process.
    let lock = std::fs::File::create(dir.join(".lock"))
        .with_context(|| format!("cannot lock {}", dir.display()))?;
    if lock.try_lock().is_err() {
        return Ok(None);
    }
    // One run per application at a time, across daemons sharing the store.
    let run = Work::BatchRun {
        application: &spec.id,
    };
    let Some(held) = store.claim(run).await? else {
        return Ok(None);
    };
    let still_held = || {
        anyhow::ensure!(
            !held.lost(),
            "the claim on {}'s batch run was lost with its database connection; run it again",
            spec.id
        );
        Ok(())
    };
    if let Some(due_ms) = due_ms
        && store
            .batch_done_since_ms(&spec.id)
            .await?
            .is_some_and(|done| done >= due_ms)
    {
        return Ok(Some(Vec::new()));
    }
    remove_stale_parts(&dir)?;
    let mut files = Vec::new();
    loop {
        let (application, id, now_ms) = (
            spec.id.clone(),
            cip_common::payment::batch_id(clock.now_ms(), entropy.next_u64()),
            clock.now_ms(),
        );
        still_held()?;
        let batch = store.claim_batch(&application, &id, now_ms).await?;
        let claimed = Selection {
            application: spec.id.clone(),
            batch: Some(batch.id.clone()),
            ..Selection::default()
        };
        let (sha256, approved) = store
            .with_selected(claimed, {
                let (spec, batch, dir) = (spec.clone(), batch.clone(), dir.clone());
                move |lines| write_files(lines, &spec, &batch, &dir)
            })
            .await?
            .with_context(|| format!("batch {} was not written", batch.id))?;
        let audit = AuditEntry {
            at_ms: clock.now_ms(),
            actor: runner.actor.clone(),
            action: "batch.transmitted",
            success: true,
            origin: runner.origin.clone(),
            object: format!(
                "application:{} batch:{} payments:{} refunds:{}",
                spec.id, batch.id, batch.payment_count, batch.refund_count
            ),
        };
        still_held()?;
        store
            .batch_transmitted(Transmitted {
                batch: batch.clone(),
                sha256,
                approved,
                audit,
            })
            .await?;
        files.push(BatchFile {
            csv: dir.join(format!("{}.csv", batch.id)),
            manifest: dir.join(format!("{}.manifest.json", batch.id)),
            id: batch.id,
            payment_count: batch.payment_count,
            refund_count: batch.refund_count,
            resumed: batch.unfinished,
        });
        if !batch.unfinished {
            return Ok(Some(files));
        }
    }
}
