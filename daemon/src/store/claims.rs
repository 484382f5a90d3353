//! Work that one daemon at a time does: an application's batch run, the delivery of a hand-off's
//! notification. A claim is held while its value lives, and ends when it is dropped or when its
//! process dies, so another daemon can take the work up at once.

use super::{Backend, Store, StoreError, postgres};

/// What a claim is for.
pub enum Work<'a> {
    BatchRun {
        application: &'a str,
    },
    /// Delivering the notice of a hand-off or a refund, by its id.
    Notice {
        subject: &'a str,
    },
}

impl Work<'_> {
    /// The claim's name, unique across kinds of work.
    fn name(&self) -> String {
        match self {
            Work::BatchRun { application } => format!("cip batch run {application}"),
            Work::Notice { subject } => format!("cip notice {subject}"),
        }
    }
}

/// A claim this process holds.
pub struct Held {
    /// On SQLite, nothing: one process serves the store, and keeps its own work apart.
    claim: Option<postgres::claims::Claim>,
}

impl Held {
    /// Whether the claim ended without being dropped (its database session was lost): the work
    /// is then no longer this process's alone, and stops before its next step.
    pub fn lost(&self) -> bool {
        self.claim
            .as_ref()
            .is_some_and(postgres::claims::Claim::lost)
    }
}

impl Store {
    /// Claims `work` for this process, or `None` while another daemon holds it. Within one
    /// process a claim does not keep the process's own tasks apart: the caller does.
    pub async fn claim(&self, work: Work<'_>) -> Result<Option<Held>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Some(Held { claim: None })),
            Backend::Postgres(db) => Ok(db
                .claim(work.name())
                .await?
                .map(|claim| Held { claim: Some(claim) })),
        }
    }
}
