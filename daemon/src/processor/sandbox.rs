//! The sandbox processor: answers exactly as `assets/sandbox.tsv` says, with configurable added
//! latency, and keeps its own books in a ledger file apart from CIP's database, as a real
//! processor does, so an inquiry after a crash tells the truth.
//!
//! Ledger lines (tab-separated, no card data): `authorize <reference> <amount> <currency>
//! <result> <detail>`, one per call received; result is `approved`, `declined`, `failed`,
//! `no_answer` (the call hangs with nothing charged) or `duplicate` (a repeat of a reference
//! already decided, answered from the books and never charged again); and `void <reference> - -
//! voided -` for an approval cancelled.

use super::{Authorization, Inquiry, Outcome, Processor, ProcessorError, ProcessorFuture};
use cip_common::payment::PaymentMethod;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// The contract, embedded so the daemon answers the same wherever it runs.
pub const CONTRACT: &str = include_str!("../../../assets/sandbox.tsv");

/// How long the slow-approval row takes.
const SLOW_APPROVAL: Duration = Duration::from_secs(3);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Behaviour {
    Approve,
    ApproveSlowly,
    Decline(String),
    Fail(String),
    /// The processor approves and records it, but the answer never arrives.
    ApproveAndHang,
    /// The call never arrives at the books: nothing is charged and no answer comes.
    Hang,
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
        ("approved", _) => Behaviour::Approve,
        ("declined", code) => Behaviour::Decline(code.to_owned()),
        ("failed", code) => Behaviour::Fail(code.to_owned()),
        ("in_doubt", _) if row.meaning.contains("finds it approved") => Behaviour::ApproveAndHang,
        ("in_doubt", _) => Behaviour::Hang,
        _ => return None,
    })
}

struct Books {
    file: File,
    /// The decision recorded for each reference.
    decided: HashMap<String, Outcome>,
    voided: std::collections::HashSet<String>,
}

pub struct Sandbox {
    behaviours: HashMap<String, Behaviour>,
    added_latency: Duration,
    books: Mutex<Books>,
}

impl Sandbox {
    /// Opens (or creates) the ledger at `ledger` and reads the books kept so far.
    pub fn open(ledger: &Path, added_latency: Duration) -> std::io::Result<Sandbox> {
        let mut decided = HashMap::new();
        let mut voided = std::collections::HashSet::new();
        if ledger.exists() {
            for line in BufReader::new(File::open(ledger)?).lines() {
                let line = line?;
                let cols: Vec<&str> = line.split('\t').collect();
                if let ["void", reference, ..] = cols.as_slice() {
                    voided.insert((*reference).to_owned());
                }
                if let ["authorize", reference, _, _, result, detail] = cols.as_slice() {
                    let outcome = match *result {
                        "approved" => Outcome::Approved {
                            authorization: (*detail).to_owned(),
                        },
                        "declined" => Outcome::Declined {
                            code: (*detail).to_owned(),
                        },
                        _ => continue,
                    };
                    decided.insert((*reference).to_owned(), outcome);
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(ledger)?;
        let behaviours = contract_rows()
            .iter()
            .filter_map(|row| behaviour_of(row).map(|b| (row.number.clone(), b)))
            .collect();
        Ok(Sandbox {
            behaviours,
            added_latency,
            books: Mutex::new(Books {
                file,
                decided,
                voided,
            }),
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

    /// Records one call in the books; a reference decided before is answered from the books.
    fn record(&self, request: &Authorization<'_>, behaviour: &Behaviour) -> Outcome {
        let mut books = self.books.lock().unwrap_or_else(|p| p.into_inner());
        let (outcome, result, detail) = if let Some(earlier) = books.decided.get(request.reference)
        {
            (earlier.clone(), "duplicate", String::new())
        } else {
            match behaviour {
                Behaviour::Approve | Behaviour::ApproveSlowly | Behaviour::ApproveAndHang => {
                    let authorization = authorization_code(request.reference);
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
        if matches!(result, "approved" | "declined") {
            books
                .decided
                .insert(request.reference.to_owned(), outcome.clone());
        }
        let line = format!(
            "authorize\t{}\t{}\t{}\t{result}\t{detail}\n",
            request.reference, request.amount.minor, request.amount.currency
        );
        // The books are written before the answer leaves, so they survive a crash of the
        // daemon that asked; a write error is the processor failing, and nothing is charged.
        if let Err(e) = books.file.write_all(line.as_bytes()) {
            tracing::error!("sandbox ledger write failed: {e}");
            if result != "duplicate" {
                books.decided.remove(request.reference);
            }
            return Outcome::Failed {
                code: "processing_error".to_owned(),
            };
        }
        outcome
    }
}

/// A stable authorization code for a reference, like a processor's six-character approval code.
fn authorization_code(reference: &str) -> String {
    let hash = blake3::hash(reference.as_bytes());
    hash.to_hex()[..6].to_ascii_uppercase()
}

impl Processor for Sandbox {
    fn authorize<'a>(&'a self, request: Authorization<'a>) -> ProcessorFuture<'a, Outcome> {
        Box::pin(async move {
            if !self.added_latency.is_zero() {
                tokio::time::sleep(self.added_latency).await;
            }
            let behaviour = self.behaviour(request.method);
            if behaviour == Behaviour::ApproveSlowly {
                tokio::time::sleep(SLOW_APPROVAL).await;
            }
            let outcome = self.record(&request, &behaviour);
            if matches!(behaviour, Behaviour::Hang | Behaviour::ApproveAndHang) {
                std::future::pending::<()>().await;
            }
            outcome
        })
    }

    fn inquire<'a>(
        &'a self,
        reference: &'a str,
    ) -> ProcessorFuture<'a, Result<Inquiry, ProcessorError>> {
        Box::pin(async move {
            if !self.added_latency.is_zero() {
                tokio::time::sleep(self.added_latency).await;
            }
            let books = self.books.lock().unwrap_or_else(|p| p.into_inner());
            Ok(match books.decided.get(reference) {
                Some(outcome) => Inquiry::Decided(outcome.clone()),
                None => Inquiry::NotFound,
            })
        })
    }

    fn void<'a>(&'a self, reference: &'a str) -> ProcessorFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            if !self.added_latency.is_zero() {
                tokio::time::sleep(self.added_latency).await;
            }
            let mut books = self.books.lock().unwrap_or_else(|p| p.into_inner());
            if !matches!(books.decided.get(reference), Some(Outcome::Approved { .. })) {
                return Err(ProcessorError::Refused(format!(
                    "{reference} has no approval to void"
                )));
            }
            if books.voided.contains(reference) {
                return Ok(());
            }
            let line = format!("void\t{reference}\t-\t-\tvoided\t\n");
            books
                .file
                .write_all(line.as_bytes())
                .map_err(|e| ProcessorError::Unreachable(e.to_string()))?;
            books.voided.insert(reference.to_owned());
            Ok(())
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
