//! SQL for applications, users and their grants, sessions, and the append-only audit log.

use super::events::insert_security_event;
use crate::store::StoreError;
use crate::store::accounts::{
    AuditEntry, AuditEntryRow, FailedSignIn, Lockout, SessionRow, UserAdded, UserRow,
};
use crate::store::events::SecurityEvent;
use cip_common::event::EventKind;
use cip_common::form::ApplicationSpec;
use cip_common::session::Role;
use rusqlite::{Connection, OptionalExtension, params};

pub fn add_application(
    conn: &Connection,
    spec: &ApplicationSpec,
    now_ms: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached("INSERT INTO applications (id, spec, created_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![spec.id, json, now_ms])?;
    Ok(())
}

pub fn applications(conn: &Connection) -> Result<Vec<ApplicationSpec>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT spec FROM applications ORDER BY id")?;
    let texts: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    texts
        .iter()
        .map(|json| serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

pub fn application(conn: &Connection, id: &str) -> Result<Option<ApplicationSpec>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT spec FROM applications WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

pub fn add_user(
    conn: &Connection,
    id: &str,
    role: Role,
    password_hash: &str,
    applications: &[String],
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO users (id, role, password_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, role.code(), password_hash, now_ms])?;
    let mut grant = conn.prepare_cached(
        "INSERT INTO user_applications (user_id, application_id) VALUES (?1, ?2)",
    )?;
    for app in applications {
        grant.execute(params![id, app])?;
    }
    Ok(())
}

pub fn user(conn: &Connection, id: &str) -> Result<Option<UserRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT id, role, password_hash, failed_attempts, locked_until_ms FROM users WHERE id = ?1",
        )?
        .query_row([id], |r| {
            let role: String = r.get(1)?;
            Ok(UserRow {
                id: r.get(0)?,
                role: Role::from_code(&role).unwrap_or(Role::Agent),
                password_hash: r.get(2)?,
                failed_attempts: r.get(3)?,
                locked_until_ms: r.get(4)?,
                applications: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut row) = row else { return Ok(None) };
    row.applications = grants(conn, id)?;
    Ok(Some(row))
}

fn grants(conn: &Connection, user: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT application_id FROM user_applications WHERE user_id = ?1 ORDER BY application_id",
    )?;
    let apps = stmt
        .query_map([user], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(apps)
}

pub fn users(conn: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let ids: Vec<String> = conn
        .prepare_cached("SELECT id FROM users ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.iter()
        .filter_map(|id| user(conn, id).transpose())
        .collect()
}

/// Sets a user's password, keeping the one it replaces in the history. Returns false for an
/// unknown user.
pub fn set_password(
    conn: &Connection,
    id: &str,
    password_hash: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "INSERT INTO password_history (user_id, password_hash, replaced_ms)
         SELECT id, password_hash, ?2 FROM users WHERE id = ?1",
    )?
    .execute(params![id, now_ms])?;
    Ok(conn
        .prepare_cached("UPDATE users SET password_hash = ?1 WHERE id = ?2")?
        .execute(params![password_hash, id])?
        > 0)
}

/// The user's current password hash and the ones before it, newest first, `max` in all.
pub fn recent_password_hashes(
    conn: &Connection,
    id: &str,
    max: u32,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT password_hash FROM (
             SELECT password_hash, 1 AS current, 0 AS at FROM users WHERE id = ?1
             UNION ALL
             SELECT password_hash, 0, replaced_ms FROM password_history WHERE user_id = ?1)
         ORDER BY current DESC, at DESC LIMIT ?2",
    )?;
    let hashes = stmt.query_map(params![id, max], |r| r.get(0))?;
    Ok(hashes.collect::<Result<_, _>>()?)
}

/// Clears failed attempts and any lockout. Returns false for an unknown user.
pub fn unlock(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE users SET failed_attempts = 0, locked_until_ms = NULL WHERE id = ?1",
        )?
        .execute([id])?
        > 0)
}

/// Counts a failed sign-in (a lockout that has run out starts the count again); at
/// `max_failures` in a row the user is locked until `lock_until_ms`. Returns the lockout end when
/// this failure locked the user.
pub fn record_failure(
    conn: &Connection,
    id: &str,
    max_failures: u32,
    now_ms: i64,
    lock_until_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let locked: Option<i64> = conn
        .prepare_cached(
            "UPDATE users SET
                failed_attempts = (CASE WHEN locked_until_ms <= ?3 THEN 0 ELSE failed_attempts END) + 1,
                locked_until_ms = CASE
                    WHEN (CASE WHEN locked_until_ms <= ?3 THEN 0 ELSE failed_attempts END) + 1 >= ?2 THEN ?4
                    WHEN locked_until_ms <= ?3 THEN NULL
                    ELSE locked_until_ms END
             WHERE id = ?1
             RETURNING CASE WHEN failed_attempts >= ?2 THEN locked_until_ms END",
        )?
        .query_row(params![id, max_failures, now_ms, lock_until_ms], |r| r.get(0))
        .optional()?
        .flatten();
    Ok(locked)
}

pub fn reset_failures(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE users SET failed_attempts = 0, locked_until_ms = NULL WHERE id = ?1 AND failed_attempts > 0",
    )?
    .execute([id])?;
    Ok(())
}

pub fn add_session(
    conn: &Connection,
    token_hash: &[u8; 32],
    user: &str,
    application: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, user_id, application_id, created_ms, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![token_hash.as_slice(), user, application, now_ms])?;
    Ok(())
}

pub fn session(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, application_id, last_seen_ms, ended_ms IS NOT NULL FROM sessions WHERE token_hash = ?1",
        )?
        .query_row([token_hash.as_slice()], |r| {
            Ok(SessionRow {
                user: r.get(0)?,
                application: r.get(1)?,
                last_seen_ms: r.get(2)?,
                ended: r.get(3)?,
            })
        })
        .optional()?)
}

/// Records a session's use; its last use as stored, or `None` when the session was ended
/// meanwhile (a sign-out elsewhere, a password change).
pub fn touch_session(
    conn: &Connection,
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE sessions SET last_seen_ms = max(last_seen_ms, ?2)
             WHERE token_hash = ?1 AND ended_ms IS NULL RETURNING last_seen_ms",
        )?
        .query_row(params![token_hash.as_slice(), now_ms], |r| r.get(0))
        .optional()?)
}

/// Ends every open session of a user (after its password changes).
pub fn end_sessions_of(conn: &Connection, user: &str, now_ms: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE sessions SET ended_ms = ?2 WHERE user_id = ?1 AND ended_ms IS NULL",
        )?
        .execute(params![user, now_ms])?)
}

pub fn end_session(
    conn: &Connection,
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE sessions SET ended_ms = ?2 WHERE token_hash = ?1 AND ended_ms IS NULL",
    )?
    .execute(params![token_hash.as_slice(), now_ms])?;
    Ok(())
}

pub fn audit(conn: &Connection, entry: &AuditEntry) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at_ms, actor, action, outcome, origin, object) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry.at_ms,
        entry.actor,
        entry.action,
        entry.outcome(),
        entry.origin,
        entry.object
    ])?;
    Ok(())
}

/// The newest audit entries, newest first.
pub fn audit_entries(conn: &Connection, limit: u32) -> Result<Vec<AuditEntryRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at_ms, actor, action, outcome, origin, object FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok(AuditEntryRow {
                at_ms: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                outcome: r.get(3)?,
                origin: r.get(4)?,
                object: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Adds an application unless one has its id; false when one has.
pub fn add_new_application(
    conn: &Connection,
    spec: &ApplicationSpec,
    entry: &AuditEntry,
) -> Result<bool, StoreError> {
    if application(conn, &spec.id)?.is_some() {
        return Ok(false);
    }
    add_application(conn, spec, entry.at_ms)?;
    audit(conn, entry)?;
    Ok(true)
}

/// Adds a user granted `applications`, unless the id is taken or an application is unknown.
pub fn add_new_user(
    conn: &Connection,
    user: &UserRow,
    entry: &AuditEntry,
) -> Result<UserAdded, StoreError> {
    if self::user(conn, &user.id)?.is_some() {
        return Ok(UserAdded::Exists);
    }
    for app in &user.applications {
        if application(conn, app)?.is_none() {
            return Ok(UserAdded::NoApplication(app.clone()));
        }
    }
    add_user(
        conn,
        &user.id,
        user.role,
        &user.password_hash,
        &user.applications,
        entry.at_ms,
    )?;
    audit(conn, entry)?;
    Ok(UserAdded::Added)
}

/// Sets a user's password, ends the sessions the old one opened and audits it; false for an
/// unknown user.
pub fn change_password(
    conn: &Connection,
    id: &str,
    password_hash: &str,
    entry: &AuditEntry,
) -> Result<bool, StoreError> {
    let changed = set_password(conn, id, password_hash, entry.at_ms)?;
    if changed {
        end_sessions_of(conn, id, entry.at_ms)?;
        audit(conn, entry)?;
    }
    Ok(changed)
}

/// Lifts a lockout, audits it and shows it in the supervisors' feed. The event names
/// `application` (one the user uses), or the user's first application.
pub fn unlock_user(
    conn: &Connection,
    id: &str,
    application: Option<&str>,
    entry: &AuditEntry,
) -> Result<bool, StoreError> {
    let Some(row) = user(conn, id)? else {
        return Ok(false);
    };
    if !unlock(conn, id)? {
        return Ok(false);
    }
    let application = application.or(row.applications.first().map(String::as_str));
    audit(conn, entry)?;
    insert_security_event(
        conn,
        &SecurityEvent {
            kind: EventKind::Unlock,
            at_ms: entry.at_ms,
            application,
            user: id,
            actor: Some(&entry.actor),
            origin: &entry.origin,
        },
    )?;
    Ok(true)
}

/// Audits a refused sign-in and shows it (or the lockout it caused) to supervisors.
fn refused(conn: &Connection, failed: &FailedSignIn, kind: EventKind) -> Result<(), StoreError> {
    insert_security_event(conn, &failed.event(kind))
}

/// A sign-in refused without counting against the user (one unknown, or locked already).
pub fn sign_in_failed(conn: &Connection, failed: &FailedSignIn) -> Result<(), StoreError> {
    audit(conn, &failed.entry)?;
    refused(conn, failed, EventKind::SignInFailed)
}

/// A wrong password, counted: at `lockout.max_failures` in a row the user is locked, which is
/// audited and shown too. Returns the lockout's end when this failure locked the user.
pub fn count_failed_sign_in(
    conn: &Connection,
    failed: &FailedSignIn,
    lockout: &Lockout,
) -> Result<Option<i64>, StoreError> {
    sign_in_failed(conn, failed)?;
    let locked = record_failure(
        conn,
        &failed.user,
        lockout.max_failures,
        lockout.now_ms,
        lockout.until_ms,
    )?;
    if locked.is_some() {
        audit(
            conn,
            &AuditEntry {
                action: "lockout",
                ..failed.entry.clone()
            },
        )?;
        refused(conn, failed, EventKind::Lockout)?;
    }
    Ok(locked)
}

/// Opens a session, audited and shown to supervisors as a sign-in.
pub fn open_session(
    conn: &Connection,
    token_hash: &[u8; 32],
    user: &str,
    application: &str,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    add_session(conn, token_hash, user, application, entry.at_ms)?;
    audit(conn, entry)?;
    insert_security_event(
        conn,
        &SecurityEvent {
            kind: EventKind::SignIn,
            at_ms: entry.at_ms,
            application: Some(application),
            user,
            actor: None,
            origin: &entry.origin,
        },
    )
}

/// Ends a session (a sign-out, an idle expiry), audited.
pub fn close_session(
    conn: &Connection,
    token_hash: &[u8; 32],
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    end_session(conn, token_hash, entry.at_ms)?;
    audit(conn, entry)
}

/// A session and its user.
pub fn session_of(
    conn: &Connection,
    token_hash: &[u8; 32],
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    let Some(session) = session(conn, token_hash)? else {
        return Ok(None);
    };
    Ok(user(conn, &session.user)?.map(|user| (session, user)))
}
