//! The sandbox processor: answers exactly as `assets/sandbox.tsv` says, with configurable added
//! latency, and keeps its own books in a ledger file apart from CIP's database, as a real
//! processor does, so an inquiry after a crash tells the truth.
//!
//! Ledger lines (tab-separated, no card data), one per call that changed or asked the books:
//! - `authorize <reference> <amount> <currency> <result> <detail> [refunds_declined]`: result
//!   is `approved` (detail: the authorization code), `declined` or `failed` (detail: the code),
//!   `no_answer` (the call hangs with nothing charged), `refused` (detail `reversed`: the
//!   reference was reversed before the authorization arrived, so nothing is charged) or
//!   `duplicate` (a repeat of a reference already decided, answered from the books and never
//!   charged again); `refunds_declined` marks an approval whose refunds the processor declines;
//! - `void <reference> - - voided -`: an approval cancelled;
//! - `reverse <reference> - - reversed -`: the reference reversed; nothing is charged for it;
//! - `refund <refund> <amount> <currency> <result> <payment> <code>`: result `succeeded` or
//!   `declined` (code: why).

use super::{
    Authorization, Inquiry, Outcome, Processor, ProcessorError, ProcessorFuture, Refund,
    RefundOutcome,
};
use cip_common::money::Money;
use cip_common::payment::PaymentMethod;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The contract, embedded so the daemon answers the same wherever it runs.
pub const CONTRACT: &str = include_str!("../../../assets/sandbox.tsv");

/// How long the slow-approval row takes.
const SLOW_APPROVAL: Duration = Duration::from_secs(3);
/// How long after the caller's deadline the late row's authorization reaches the books.
pub const LATE_BY: Duration = Duration::from_secs(5);
/// Ledger bytes between two starts of its write-out ([`crate::write_out`]). The ledger is never
/// synced, so without them a run's lines (10 MB in the benchmark's first 30 s) went to disk at
/// once, and the store's commits waited 40 ms behind them.
const WRITE_OUT_EVERY: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Behaviour {
    Approve,
    ApproveSlowly,
    /// Approved, and every refund of it declined.
    ApproveRefusingRefunds,
    Decline(String),
    Fail(String),
    /// The processor approves and records it, but the answer never arrives.
    ApproveAndHang,
    /// The call never arrives at the books: nothing is charged and no answer comes.
    Hang,
    /// The call reaches the books `LATE_BY` after the caller's deadline, and no answer comes.
    ArriveLate,
}

/// One row of `sandbox.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractRow {
    /// `card` or `ach`.
    pub kind: String,
    /// A card number, or `routing/account` for ACH.
    pub number: String,
    pub brand: String,
    /// `approved`, `declined`, `failed`, `in_doubt` or `invalid`.
    pub outcome: String,
    pub code: String,
    pub meaning: String,
}

/// The rows of the contract, comments skipped.
pub fn contract_rows() -> Vec<ContractRow> {
    CONTRACT
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols.len() >= 6).then(|| ContractRow {
                kind: cols[0].to_owned(),
                number: cols[1].to_owned(),
                brand: cols[2].to_owned(),
                outcome: cols[3].to_owned(),
                code: cols[4].to_owned(),
                meaning: cols[5].to_owned(),
            })
        })
        .collect()
}

fn behaviour_of(row: &ContractRow) -> Option<Behaviour> {
    Some(match (row.outcome.as_str(), row.code.as_str()) {
        ("approved", _) if row.meaning.contains("after 3 seconds") => Behaviour::ApproveSlowly,
        ("approved", _) if row.meaning.contains("refund of it is declined") => {
            Behaviour::ApproveRefusingRefunds
        }
        ("approved", _) => Behaviour::Approve,
        ("declined", code) => Behaviour::Decline(code.to_owned()),
        ("failed", code) => Behaviour::Fail(code.to_owned()),
        ("in_doubt", _) if row.meaning.contains("finds it approved") => Behaviour::ApproveAndHang,
        ("in_doubt", _) if row.meaning.contains("reaches the processor") => Behaviour::ArriveLate,
        ("in_doubt", _) => Behaviour::Hang,
        _ => return None,
    })
}

/// An authorization the books decided.
struct Decided {
    outcome: Outcome,
    amount_minor: i64,
    currency: String,
    refunds_declined: bool,
    voided: bool,
    /// What its refunds have given back so far.
    refunded_minor: i64,
}

impl Decided {
    /// Charged and not cancelled: what a refund may give back from.
    fn charged(&self) -> bool {
        matches!(self.outcome, Outcome::Approved { .. }) && !self.voided
    }
}

struct Books {
    file: File,
    /// Bytes appended since the ledger's write-out was last started.
    unwritten: usize,
    decided: HashMap<String, Decided>,
    reversed: HashSet<String>,
    /// Refunds by their own reference.
    refunds: HashMap<String, RefundOutcome>,
}

impl Books {
    /// Reads the books kept so far in `ledger`, and opens it to go on.
    fn open(ledger: &Path) -> std::io::Result<Books> {
        let mut books = Books {
            file: OpenOptions::new().create(true).append(true).open(ledger)?,
            unwritten: 0,
            decided: HashMap::new(),
            reversed: HashSet::new(),
            refunds: HashMap::new(),
        };
        for line in BufReader::new(File::open(ledger)?).lines() {
            books.replay(&line?);
        }
        Ok(books)
    }

    /// Applies one ledger line, as it did when it was written.
    fn replay(&mut self, line: &str) {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols.as_slice() {
            [
                "authorize",
                reference,
                amount,
                currency,
                result,
                detail,
                flags @ ..,
            ] => {
                let outcome = match *result {
                    "approved" => Outcome::Approved {
                        authorization: (*detail).to_owned(),
                    },
                    "declined" => Outcome::Declined {
                        code: (*detail).to_owned(),
                    },
                    _ => return,
                };
                self.decided.insert(
                    (*reference).to_owned(),
                    Decided {
                        outcome,
                        amount_minor: amount.parse().unwrap_or(0),
                        currency: (*currency).to_owned(),
                        refunds_declined: flags.contains(&"refunds_declined"),
                        voided: false,
                        refunded_minor: 0,
                    },
                );
            }
            ["void", reference, ..] => {
                if let Some(decided) = self.decided.get_mut(*reference) {
                    decided.voided = true;
                }
            }
            ["reverse", reference, ..] => {
                self.reversed.insert((*reference).to_owned());
            }
            ["refund", reference, amount, _, result, payment, code] => {
                let outcome = if *result == "succeeded" {
                    if let Some(decided) = self.decided.get_mut(*payment) {
                        decided.refunded_minor += amount.parse::<i64>().unwrap_or(0);
                    }
                    RefundOutcome::Succeeded
                } else {
                    RefundOutcome::Declined {
                        code: (*code).to_owned(),
                    }
                };
                self.refunds.insert((*reference).to_owned(), outcome);
            }
            _ => tracing::warn!("the sandbox ledger has a line it cannot read"),
        }
    }

    /// Writes `line` to the ledger, then applies it: the books are written before the answer
    /// leaves, so they survive a crash of the daemon that asked.
    fn append(&mut self, line: &str) -> std::io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.unwritten += line.len();
        if self.unwritten >= WRITE_OUT_EVERY {
            crate::write_out::start(&self.file, "the sandbox ledger");
            self.unwritten = 0;
        }
        self.replay(line.trim_end_matches('\n'));
        Ok(())
    }

    /// Records one authorization; a reference decided before is answered from the books, and
    /// one reversed before is refused.
    fn authorize(&mut self, reference: &str, amount: Money, behaviour: &Behaviour) -> Outcome {
        let (outcome, result, detail) = if self.reversed.contains(reference) {
            (
                Outcome::Failed {
                    code: "reversed".to_owned(),
                },
                "refused",
                "reversed".to_owned(),
            )
        } else if let Some(earlier) = self.decided.get(reference) {
            (earlier.outcome.clone(), "duplicate", String::new())
        } else {
            match behaviour {
                Behaviour::Approve
                | Behaviour::ApproveSlowly
                | Behaviour::ApproveAndHang
                | Behaviour::ApproveRefusingRefunds
                | Behaviour::ArriveLate => {
                    let authorization = authorization_code(reference);
                    let outcome = Outcome::Approved {
                        authorization: authorization.clone(),
                    };
                    (outcome, "approved", authorization)
                }
                Behaviour::Decline(code) => (
                    Outcome::Declined { code: code.clone() },
                    "declined",
                    code.clone(),
                ),
                Behaviour::Fail(code) => (
                    Outcome::Failed { code: code.clone() },
                    "failed",
                    code.clone(),
                ),
                Behaviour::Hang => (
                    Outcome::Failed {
                        code: "no_answer".to_owned(),
                    },
                    "no_answer",
                    String::new(),
                ),
            }
        };
        let flags = if result == "approved" && *behaviour == Behaviour::ApproveRefusingRefunds {
            "\trefunds_declined"
        } else {
            ""
        };
        let line = format!(
            "authorize\t{reference}\t{}\t{}\t{result}\t{detail}{flags}\n",
            amount.minor, amount.currency
        );
        // A write error is the processor failing, and nothing is charged.
        if let Err(e) = self.append(&line) {
            tracing::error!("sandbox ledger write failed: {e}");
            return Outcome::Failed {
                code: "processing_error".to_owned(),
            };
        }
        outcome
    }

    fn inquire(&self, reference: &str) -> Inquiry {
        match self.decided.get(reference) {
            // A reversal cancelled whatever came of the reference.
            _ if self.reversed.contains(reference) => Inquiry::NotFound,
            Some(decided) => Inquiry::Decided(decided.outcome.clone()),
            None => Inquiry::NotFound,
        }
    }

    fn void(&mut self, reference: &str) -> Result<(), ProcessorError> {
        let Some(decided) = self.decided.get(reference) else {
            return Err(no_approval(reference));
        };
        if !matches!(decided.outcome, Outcome::Approved { .. }) || self.reversed.contains(reference)
        {
            return Err(no_approval(reference));
        }
        if decided.voided {
            return Ok(());
        }
        // A void gives back the whole amount: after a refund it would give back twice.
        if decided.refunded_minor > 0 {
            return Err(ProcessorError::Refused(format!(
                "{reference} has refunds: it can no longer be voided"
            )));
        }
        self.append(&format!("void\t{reference}\t-\t-\tvoided\t-\n"))
            .map_err(|e| ProcessorError::Unreachable(e.to_string()))
    }

    fn reverse(&mut self, reference: &str) -> Result<(), ProcessorError> {
        if self.reversed.contains(reference) {
            return Ok(());
        }
        self.append(&format!("reverse\t{reference}\t-\t-\treversed\t-\n"))
            .map_err(|e| ProcessorError::Unreachable(e.to_string()))
    }

    fn refund(&mut self, request: &Refund<'_>) -> Result<RefundOutcome, ProcessorError> {
        if let Some(earlier) = self.refunds.get(request.reference) {
            return Ok(earlier.clone());
        }
        let refundable = self
            .decided
            .get(request.payment)
            .filter(|d| d.charged() && !self.reversed.contains(request.payment));
        let declined = match refundable {
            None => Some("not_refundable"),
            Some(d) if d.currency != request.amount.currency.code() => Some("wrong_currency"),
            Some(d) if d.refunds_declined => Some("refund_failed"),
            Some(d) if request.amount.minor > d.amount_minor - d.refunded_minor => {
                Some("amount_too_large")
            }
            Some(_) if request.amount.minor <= 0 => Some("invalid_amount"),
            Some(_) => None,
        };
        let (result, code) = match declined {
            Some(code) => ("declined", code),
            None => ("succeeded", "-"),
        };
        let line = format!(
            "refund\t{}\t{}\t{}\t{result}\t{}\t{code}\n",
            request.reference, request.amount.minor, request.amount.currency, request.payment
        );
        self.append(&line)
            .map_err(|e| ProcessorError::Unreachable(e.to_string()))?;
        Ok(self.refunds[request.reference].clone())
    }
}

fn no_approval(reference: &str) -> ProcessorError {
    ProcessorError::Refused(format!("{reference} has no approval to void"))
}

/// The sandbox's books behind the processor trait, in this process or behind
/// `cipd sandbox serve`.
pub struct Sandbox {
    behaviours: HashMap<String, Behaviour>,
    added_latency: Duration,
    books: Arc<Mutex<Books>>,
}

impl Sandbox {
    /// Opens (or creates) the ledger at `ledger` and reads the books kept so far.
    pub fn open(ledger: &Path, added_latency: Duration) -> std::io::Result<Sandbox> {
        let behaviours = contract_rows()
            .iter()
            .filter_map(|row| behaviour_of(row).map(|b| (row.number.clone(), b)))
            .collect();
        Ok(Sandbox {
            behaviours,
            added_latency,
            books: Arc::new(Mutex::new(Books::open(ledger)?)),
        })
    }

    fn behaviour(&self, method: &PaymentMethod) -> Behaviour {
        let key = match method {
            PaymentMethod::Card(card) => card.number.digits(),
            PaymentMethod::Ach(ach) => {
                format!("{}/{}", ach.routing_number, ach.account_number.expose())
            }
        };
        self.behaviours
            .get(&key)
            .cloned()
            .unwrap_or(Behaviour::Approve)
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        lock(&self.books)
    }

    async fn latency(&self) {
        if !self.added_latency.is_zero() {
            tokio::time::sleep(self.added_latency).await;
        }
    }
}

fn lock(books: &Mutex<Books>) -> MutexGuard<'_, Books> {
    books.lock().unwrap_or_else(|p| p.into_inner())
}

/// A stable authorization code for a reference, like a processor's six-character approval code.
fn authorization_code(reference: &str) -> String {
    let hash = blake3::hash(reference.as_bytes());
    hash.to_hex()[..6].to_ascii_uppercase()
}

impl Processor for Sandbox {
    fn authorize<'a>(
        &'a self,
        request: Authorization<'a>,
    ) -> ProcessorFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            self.latency().await;
            let behaviour = self.behaviour(request.method);
            match behaviour {
                Behaviour::ApproveSlowly => tokio::time::sleep(SLOW_APPROVAL).await,
                Behaviour::ArriveLate => {
                    // On its way whether or not the caller still waits, as a request in a
                    // network is.
                    let (books, reference, amount) = (
                        Arc::clone(&self.books),
                        request.reference.to_owned(),
                        request.amount,
                    );
                    let arrives = request.deadline + LATE_BY;
                    tokio::spawn(async move {
                        tokio::time::sleep(arrives).await;
                        lock(&books).authorize(&reference, amount, &Behaviour::ArriveLate);
                    });
                    return std::future::pending().await;
                }
                _ => {}
            }
            let outcome = self
                .books()
                .authorize(request.reference, request.amount, &behaviour);
            if matches!(behaviour, Behaviour::Hang | Behaviour::ApproveAndHang) {
                std::future::pending::<()>().await;
            }
            Ok(outcome)
        })
    }

    fn inquire<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<Inquiry, ProcessorError>> {
        Box::pin(async move {
            self.latency().await;
            Ok(self.books().inquire(reference))
        })
    }

    fn void<'a>(&'a self, reference: &'a str) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            self.latency().await;
            self.books().void(reference)
        })
    }

    fn refund<'a>(
        &'a self,
        request: Refund<'a>,
    ) -> ProcessorFuture<'a, Result<RefundOutcome, ProcessorError>> {
        Box::pin(async move {
            self.latency().await;
            self.books().refund(&request)
        })
    }

    fn reverse<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            self.latency().await;
            self.books().reverse(reference)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_row_has_a_behaviour_or_is_invalid() {
        let rows = contract_rows();
        assert!(rows.len() >= 20);
        for row in rows {
            assert_eq!(
                behaviour_of(&row).is_none(),
                row.outcome == "invalid",
                "{row:?}"
            );
        }
    }
}
