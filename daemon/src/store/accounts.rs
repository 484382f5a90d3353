//! Applications, users and their grants, sign-in failures and lockouts, sessions, and the
//! append-only audit log.

use super::events::SecurityEvent;
use super::{Backend, Store, StoreError, postgres, sqlite};
use cip_common::event::EventKind;
use cip_common::form::ApplicationSpec;
use cip_common::session::Role;

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub role: Role,
    pub password_hash: String,
    pub failed_attempts: u32,
    pub locked_until_ms: Option<i64>,
    pub applications: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub user: String,
    pub application: String,
    pub last_seen_ms: i64,
    pub ended: bool,
}

/// One security event: who did what to which object, from where, when, and how it went.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub action: &'static str,
    pub success: bool,
    pub origin: String,
    pub object: String,
}

impl AuditEntry {
    /// The entry's outcome as the log's `outcome` column spells it.
    pub fn outcome(&self) -> &'static str {
        if self.success { "success" } else { "failure" }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntryRow {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub origin: String,
    pub object: String,
}

/// What adding a user came to.
#[derive(Debug, PartialEq, Eq)]
pub enum UserAdded {
    Added,
    Exists,
    /// An application to grant is not in the store.
    NoApplication(String),
}

/// A refused sign-in: its audit entry, and the user and application the supervisors' feed names.
#[derive(Clone, Debug)]
pub struct FailedSignIn {
    pub entry: AuditEntry,
    pub application: Option<String>,
    pub user: String,
}

impl FailedSignIn {
    /// The supervisors' event of this refusal (`kind`: the failure, or the lockout it caused).
    pub(super) fn event(&self, kind: EventKind) -> SecurityEvent<'_> {
        SecurityEvent {
            kind,
            at_ms: self.entry.at_ms,
            application: self.application.as_deref(),
            user: &self.user,
            actor: None,
            origin: &self.entry.origin,
        }
    }
}

/// When failures lock a user: at `max_failures` in a row, until `until_ms`.
#[derive(Clone, Copy, Debug)]
pub struct Lockout {
    pub max_failures: u32,
    pub now_ms: i64,
    pub until_ms: i64,
}

impl Store {
    /// Adds an application, audited, unless one has its id; false when one has.
    pub async fn add_application(
        &self,
        spec: &ApplicationSpec,
        entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (spec, entry) = (spec.clone(), entry.clone());
                db.write(move |c| sqlite::accounts::add_new_application(c, &spec, &entry))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::add_new_application(db, spec, entry))
                    .await
            }
        }
    }

    pub async fn applications(&self) -> Result<Vec<ApplicationSpec>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(sqlite::accounts::applications).await,
            Backend::Postgres(db) => {
                db.run(async { postgres::accounts::applications(&db.client().await?).await })
                    .await
            }
        }
    }

    pub async fn application(&self, id: &str) -> Result<Option<ApplicationSpec>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.read(move |c| sqlite::accounts::application(c, &id))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::accounts::application(&db.client().await?, id).await })
                    .await
            }
        }
    }

    /// Adds `user` (its failure count and lockout are ignored), audited.
    pub async fn add_user(
        &self,
        user: &UserRow,
        entry: &AuditEntry,
    ) -> Result<UserAdded, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (user, entry) = (user.clone(), entry.clone());
                db.write(move |c| sqlite::accounts::add_new_user(c, &user, &entry))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::add_new_user(db, user, entry))
                    .await
            }
        }
    }

    pub async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.read(move |c| sqlite::accounts::user(c, &id)).await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::accounts::user(&db.client().await?, id).await })
                    .await
            }
        }
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(sqlite::accounts::users).await,
            Backend::Postgres(db) => {
                db.run(async { postgres::accounts::users(&db.client().await?).await })
                    .await
            }
        }
    }

    /// The user's current password hash and the ones before it, newest first, `max` in all.
    pub async fn recent_password_hashes(
        &self,
        id: &str,
        max: u32,
    ) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.read(move |c| sqlite::accounts::recent_password_hashes(c, &id, max))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::accounts::recent_password_hashes(&db.client().await?, id, max).await
                })
                .await
            }
        }
    }

    /// Sets a user's password, keeping the old one in the history, ends the sessions the old
    /// one opened, and audits it; false for an unknown user.
    pub async fn change_password(
        &self,
        id: &str,
        password_hash: &str,
        entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (id, hash, entry) = (id.to_owned(), password_hash.to_owned(), entry.clone());
                db.write(move |c| sqlite::accounts::change_password(c, &id, &hash, &entry))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::change_password(
                    db,
                    id,
                    password_hash,
                    entry,
                ))
                .await
            }
        }
    }

    /// Lifts a user's lockout, audited as `entry.actor`'s and shown to the supervisors of
    /// `application` (or of the user's first application); false for an unknown user.
    pub async fn unlock_user(
        &self,
        id: &str,
        application: Option<&str>,
        entry: &AuditEntry,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (id, application, entry) =
                    (id.to_owned(), application.map(str::to_owned), entry.clone());
                db.write(move |c| {
                    sqlite::accounts::unlock_user(c, &id, application.as_deref(), &entry)
                })
                .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::unlock_user(db, id, application, entry))
                    .await
            }
        }
    }

    /// A sign-in refused without counting against the user (one unknown, or locked already),
    /// audited and shown to supervisors.
    pub async fn sign_in_failed(&self, failed: FailedSignIn) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::accounts::sign_in_failed(c, &failed))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::sign_in_failed(db, &failed))
                    .await
            }
        }
    }

    /// A wrong password, counted, audited and shown; returns the lockout's end when this
    /// failure locked the user.
    pub async fn count_failed_sign_in(
        &self,
        failed: FailedSignIn,
        lockout: Lockout,
    ) -> Result<Option<i64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write(move |c| sqlite::accounts::count_failed_sign_in(c, &failed, &lockout))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::count_failed_sign_in(
                    db, &failed, &lockout,
                ))
                .await
            }
        }
    }

    /// Clears a user's failed attempts and any lockout.
    pub async fn reset_failures(&self, id: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let id = id.to_owned();
                db.write(move |c| sqlite::accounts::reset_failures(c, &id))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async { postgres::accounts::reset_failures(&db.client().await?, id).await })
                    .await
            }
        }
    }

    /// Opens a session of `user` in `application` under the token's hash, audited and shown to
    /// supervisors as a sign-in.
    pub async fn open_session(
        &self,
        token_hash: &[u8; 32],
        user: &str,
        application: &str,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (hash, user, application, entry) = (
                    *token_hash,
                    user.to_owned(),
                    application.to_owned(),
                    entry.clone(),
                );
                db.write(move |c| {
                    sqlite::accounts::open_session(c, &hash, &user, &application, &entry)
                })
                .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::open_session(
                    db,
                    token_hash,
                    user,
                    application,
                    entry,
                ))
                .await
            }
        }
    }

    /// Ends a session (a sign-out, an idle expiry) at `entry.at_ms`, audited.
    pub async fn close_session(
        &self,
        token_hash: &[u8; 32],
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (hash, entry) = (*token_hash, entry.clone());
                db.write(move |c| sqlite::accounts::close_session(c, &hash, &entry))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(postgres::accounts::close_session(db, token_hash, entry))
                    .await
            }
        }
    }

    /// Records a session's use; its last use as stored (another daemon's, if later), or `None`
    /// when it was ended meanwhile (a sign-out elsewhere, a password change).
    pub async fn touch_session(
        &self,
        token_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let hash = *token_hash;
                db.write(move |c| sqlite::accounts::touch_session(c, &hash, now_ms))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::accounts::touch_session(&db.client().await?, token_hash, now_ms).await
                })
                .await
            }
        }
    }

    /// A session and its user.
    pub async fn session(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let hash = *token_hash;
                db.read(move |c| sqlite::accounts::session_of(c, &hash))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::accounts::session_of(&db.client().await?, token_hash).await
                })
                .await
            }
        }
    }

    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let entry = entry.clone();
                db.write(move |c| sqlite::accounts::audit(c, &entry)).await
            }
            Backend::Postgres(db) => db.run(postgres::accounts::audit_one(db, entry)).await,
        }
    }

    /// The newest audit entries, newest first.
    pub async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntryRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                db.read(move |c| sqlite::accounts::audit_entries(c, limit))
                    .await
            }
            Backend::Postgres(db) => {
                db.run(async {
                    postgres::accounts::audit_entries(&db.client().await?, limit).await
                })
                .await
            }
        }
    }
}
