//! SQL for applications, users, sign-in failures and lockouts, sessions and the audit log on
//! PostgreSQL. A failure is counted by one UPDATE of the user's row, so failures on several
//! daemons add up; sessions live in rows, so a session opened on one daemon goes on on another.

use super::events::insert_security_event;
use super::{Client, Postgres, Tx};
use crate::store::StoreError;
use crate::store::accounts::{
    AuditEntry, AuditEntryRow, FailedSignIn, Lockout, SessionRow, UserAdded, UserRow,
};
use crate::store::events::SecurityEvent;
use cip_common::event::EventKind;
use cip_common::form::ApplicationSpec;
use cip_common::session::Role;

pub(in crate::store) async fn audit(tx: &Tx<'_>, entry: &AuditEntry) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO audit_log (at_ms, actor, action, outcome, origin, object)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &entry.at_ms,
            &entry.actor,
            &entry.action,
            &entry.outcome(),
            &entry.origin,
            &entry.object,
        ],
    )
    .await?;
    Ok(())
}

fn spec_of(json: &str) -> Result<ApplicationSpec, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(in crate::store) async fn add_new_application(
    pg: &Postgres,
    spec: &ApplicationSpec,
    entry: &AuditEntry,
) -> Result<bool, StoreError> {
    let json = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let added = tx
        .execute(
            "INSERT INTO applications (id, spec, created_ms) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&spec.id, &json, &entry.at_ms],
        )
        .await?;
    if added == 1 {
        audit(&tx, entry).await?;
    }
    tx.commit().await?;
    Ok(added == 1)
}

pub(in crate::store) async fn applications(
    client: &Client,
) -> Result<Vec<ApplicationSpec>, StoreError> {
    let statement = client
        .prepare_cached("SELECT spec FROM applications ORDER BY id")
        .await?;
    client
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| spec_of(row.try_get(0)?))
        .collect()
}

pub(in crate::store) async fn application(
    client: &Client,
    id: &str,
) -> Result<Option<ApplicationSpec>, StoreError> {
    let statement = client
        .prepare_cached("SELECT spec FROM applications WHERE id = $1")
        .await?;
    client
        .query_opt(&statement, &[&id])
        .await?
        .map(|row| spec_of(row.try_get(0)?))
        .transpose()
}

pub(in crate::store) async fn add_new_user(
    pg: &Postgres,
    user: &UserRow,
    entry: &AuditEntry,
) -> Result<UserAdded, StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let known: Vec<String> = tx
        .query(
            "SELECT id FROM applications WHERE id = ANY($1)",
            &[&user.applications],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    if let Some(missing) = user.applications.iter().find(|a| !known.contains(a)) {
        return Ok(UserAdded::NoApplication(missing.clone()));
    }
    let added = tx
        .execute(
            "INSERT INTO users (id, role, password_hash, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[
                &user.id,
                &user.role.code(),
                &user.password_hash,
                &entry.at_ms,
            ],
        )
        .await?;
    if added == 0 {
        return Ok(UserAdded::Exists);
    }
    for application in &user.applications {
        tx.execute(
            "INSERT INTO user_applications (user_id, application_id) VALUES ($1, $2)",
            &[&user.id, application],
        )
        .await?;
    }
    audit(&tx, entry).await?;
    tx.commit().await?;
    Ok(UserAdded::Added)
}

fn user_of(row: &tokio_postgres::Row) -> Result<UserRow, StoreError> {
    let role: &str = row.try_get(1)?;
    Ok(UserRow {
        id: row.try_get(0)?,
        role: Role::from_code(role).unwrap_or(Role::Agent),
        password_hash: row.try_get(2)?,
        failed_attempts: u32::try_from(row.try_get::<_, i64>(3)?).unwrap_or(u32::MAX),
        locked_until_ms: row.try_get(4)?,
        applications: row.try_get(5)?,
    })
}

/// A user's columns and its applications, in the order `user_of` reads.
const USER: &str = "SELECT u.id, u.role, u.password_hash, u.failed_attempts, u.locked_until_ms,
        ARRAY(SELECT a.application_id FROM user_applications a
              WHERE a.user_id = u.id ORDER BY a.application_id)
    FROM users u";

pub(in crate::store) async fn user(
    client: &Client,
    id: &str,
) -> Result<Option<UserRow>, StoreError> {
    let statement = client
        .prepare_cached(&format!("{USER} WHERE u.id = $1"))
        .await?;
    client
        .query_opt(&statement, &[&id])
        .await?
        .as_ref()
        .map(user_of)
        .transpose()
}

pub(in crate::store) async fn users(client: &Client) -> Result<Vec<UserRow>, StoreError> {
    let statement = client
        .prepare_cached(&format!("{USER} ORDER BY u.id"))
        .await?;
    client
        .query(&statement, &[])
        .await?
        .iter()
        .map(user_of)
        .collect()
}

pub(in crate::store) async fn recent_password_hashes(
    client: &Client,
    id: &str,
    max: u32,
) -> Result<Vec<String>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT password_hash FROM (
                 SELECT password_hash, 1 AS current, 0::bigint AS at FROM users WHERE id = $1
                 UNION ALL
                 SELECT password_hash, 0, replaced_ms FROM password_history WHERE user_id = $1) h
             ORDER BY current DESC, at DESC LIMIT $2",
        )
        .await?;
    client
        .query(&statement, &[&id, &i64::from(max)])
        .await?
        .iter()
        .map(|row| row.try_get(0).map_err(StoreError::from))
        .collect()
}

pub(in crate::store) async fn change_password(
    pg: &Postgres,
    id: &str,
    password_hash: &str,
    entry: &AuditEntry,
) -> Result<bool, StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO password_history (user_id, password_hash, replaced_ms)
         SELECT id, password_hash, $2 FROM users WHERE id = $1",
        &[&id, &entry.at_ms],
    )
    .await?;
    let changed = tx
        .execute(
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            &[&password_hash, &id],
        )
        .await?
        > 0;
    if changed {
        // A new password ends the sessions the old one opened.
        tx.execute(
            "UPDATE sessions SET ended_ms = $2 WHERE user_id = $1 AND ended_ms IS NULL",
            &[&id, &entry.at_ms],
        )
        .await?;
        audit(&tx, entry).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

pub(in crate::store) async fn unlock_user(
    pg: &Postgres,
    id: &str,
    application: Option<&str>,
    entry: &AuditEntry,
) -> Result<bool, StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let first: Option<Option<String>> = tx
        .query_opt(
            "UPDATE users SET failed_attempts = 0, locked_until_ms = NULL WHERE id = $1
             RETURNING (SELECT min(application_id) FROM user_applications WHERE user_id = $1)",
            &[&id],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    let Some(first) = first else {
        return Ok(false);
    };
    audit(&tx, entry).await?;
    insert_security_event(
        &tx,
        0,
        &SecurityEvent {
            kind: EventKind::Unlock,
            at_ms: entry.at_ms,
            application: application.or(first.as_deref()),
            user: id,
            actor: Some(&entry.actor),
            origin: &entry.origin,
        },
    )
    .await?;
    tx.commit().await?;
    pg.committed();
    Ok(true)
}

async fn refused(
    tx: &Tx<'_>,
    n: i64,
    failed: &FailedSignIn,
    kind: EventKind,
) -> Result<(), StoreError> {
    insert_security_event(tx, n, &failed.event(kind)).await
}

pub(in crate::store) async fn sign_in_failed(
    pg: &Postgres,
    failed: &FailedSignIn,
) -> Result<(), StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    audit(&tx, &failed.entry).await?;
    refused(&tx, 0, failed, EventKind::SignInFailed).await?;
    tx.commit().await?;
    pg.committed();
    Ok(())
}

pub(in crate::store) async fn count_failed_sign_in(
    pg: &Postgres,
    failed: &FailedSignIn,
    lockout: &Lockout,
) -> Result<Option<i64>, StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    audit(&tx, &failed.entry).await?;
    refused(&tx, 0, failed, EventKind::SignInFailed).await?;
    // One statement counts the failure against the row as it stands, whichever daemon saw the
    // ones before.
    let locked: Option<i64> = tx
        .query_opt(
            "UPDATE users SET
                failed_attempts = (CASE WHEN locked_until_ms <= $3 THEN 0 ELSE failed_attempts END) + 1,
                locked_until_ms = CASE
                    WHEN (CASE WHEN locked_until_ms <= $3 THEN 0 ELSE failed_attempts END) + 1 >= $2 THEN $4
                    WHEN locked_until_ms <= $3 THEN NULL
                    ELSE locked_until_ms END
             WHERE id = $1
             RETURNING CASE WHEN failed_attempts >= $2 THEN locked_until_ms END",
            &[
                &failed.user,
                &i64::from(lockout.max_failures),
                &lockout.now_ms,
                &lockout.until_ms,
            ],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?
        .flatten();
    if locked.is_some() {
        audit(
            &tx,
            &AuditEntry {
                action: "lockout",
                ..failed.entry.clone()
            },
        )
        .await?;
        refused(&tx, 1, failed, EventKind::Lockout).await?;
    }
    tx.commit().await?;
    pg.committed();
    Ok(locked)
}

pub(in crate::store) async fn reset_failures(client: &Client, id: &str) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE users SET failed_attempts = 0, locked_until_ms = NULL
             WHERE id = $1 AND failed_attempts > 0",
            &[&id],
        )
        .await?;
    Ok(())
}

pub(in crate::store) async fn open_session(
    pg: &Postgres,
    token_hash: &[u8; 32],
    user: &str,
    application: &str,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO sessions (token_hash, user_id, application_id, created_ms, last_seen_ms)
         VALUES ($1, $2, $3, $4, $4)",
        &[&token_hash.as_slice(), &user, &application, &entry.at_ms],
    )
    .await?;
    audit(&tx, entry).await?;
    insert_security_event(
        &tx,
        0,
        &SecurityEvent {
            kind: EventKind::SignIn,
            at_ms: entry.at_ms,
            application: Some(application),
            user,
            actor: None,
            origin: &entry.origin,
        },
    )
    .await?;
    tx.commit().await?;
    pg.committed();
    Ok(())
}

pub(in crate::store) async fn close_session(
    pg: &Postgres,
    token_hash: &[u8; 32],
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "UPDATE sessions SET ended_ms = $2 WHERE token_hash = $1 AND ended_ms IS NULL",
        &[&token_hash.as_slice(), &entry.at_ms],
    )
    .await?;
    audit(&tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

pub(in crate::store) async fn touch_session(
    client: &Client,
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(client
        .query_opt(
            "UPDATE sessions SET last_seen_ms = greatest(last_seen_ms, $2)
             WHERE token_hash = $1 AND ended_ms IS NULL RETURNING last_seen_ms",
            &[&token_hash.as_slice(), &now_ms],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
}

pub(in crate::store) async fn session_of(
    client: &Client,
    token_hash: &[u8; 32],
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT user_id, application_id, last_seen_ms, ended_ms IS NOT NULL
             FROM sessions WHERE token_hash = $1",
        )
        .await?;
    let Some(row) = client
        .query_opt(&statement, &[&token_hash.as_slice()])
        .await?
    else {
        return Ok(None);
    };
    let session = SessionRow {
        user: row.try_get(0)?,
        application: row.try_get(1)?,
        last_seen_ms: row.try_get(2)?,
        ended: row.try_get(3)?,
    };
    Ok(user(client, &session.user)
        .await?
        .map(|user| (session, user)))
}

pub(in crate::store) async fn audit_one(
    pg: &Postgres,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    audit(&tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

pub(in crate::store) async fn audit_entries(
    client: &Client,
    limit: u32,
) -> Result<Vec<AuditEntryRow>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT at_ms, actor, action, outcome, origin, object FROM audit_log
             ORDER BY id DESC LIMIT $1",
        )
        .await?;
    client
        .query(&statement, &[&i64::from(limit)])
        .await?
        .iter()
        .map(|r| {
            Ok(AuditEntryRow {
                at_ms: r.try_get(0)?,
                actor: r.try_get(1)?,
                action: r.try_get(2)?,
                outcome: r.try_get(3)?,
                origin: r.try_get(4)?,
                object: r.try_get(5)?,
            })
        })
        .collect()
}
