//! Passwords, sign-in with lockout, sessions with an idle expiry, and the audit entries they
//! leave. An unknown user takes the same path, and the same time, as a wrong password.

use crate::clock::{Clock, Entropy};
use crate::metrics::{METRICS, SignInFailure};
use crate::store::Store;
use crate::store::accounts::{AuditEntry, FailedSignIn, Lockout, UserRow};
use crate::store::events::Visibility;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use cip_common::calendar;
use cip_common::error::ApiError;
use cip_common::secret::{Password, SessionToken};
use cip_common::session::{Role, SessionInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How a sign-in by a user that does not exist shows in the feed: what was typed may be a
/// password typed into the wrong field.
const UNKNOWN_USER: &str = "(unknown user)";

/// Shortest password accepted (PCI DSS 8.3.6 asks for 12).
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted: a bound on argon2's input.
pub const MAX_PASSWORD_LEN: usize = 256;
/// A session's last use is written back at most this often; the idle check uses memory.
const TOUCH_EVERY_MS: i64 = 60_000;
/// The same on a store other daemons share: a sign-out or a use on another daemon is seen here
/// within this long.
const SHARED_TOUCH_EVERY_MS: i64 = 5_000;
/// Users whose sign-in locks are kept before idle ones are forgotten.
const MAX_TURNS: usize = 10_000;
/// Sessions kept in memory; beyond this the least recently checked are read back from the store.
const MAX_CACHED_SESSIONS: usize = 100_000;

/// argon2id with OWASP's parameters: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None).expect("OWASP argon2 parameters are valid"),
    )
}

/// Why a password is refused, in words, or `None` when it meets the policy.
pub fn password_problem(password: &str) -> Option<String> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_LEN {
        return Some(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if length > MAX_PASSWORD_LEN {
        return Some(format!(
            "a password may have at most {MAX_PASSWORD_LEN} characters"
        ));
    }
    if !password.chars().any(char::is_alphabetic) || !password.chars().any(|c| c.is_ascii_digit()) {
        return Some("a password needs both letters and digits".to_owned());
    }
    None
}

pub fn hash_password(password: &Password, entropy: &Entropy) -> Result<String, String> {
    let salt = SaltString::encode_b64(&entropy.bytes::<16>()).map_err(|e| e.to_string())?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// How many of a user's latest passwords a new one may not repeat (PCI DSS 8.3.7: 4).
pub const PASSWORD_HISTORY: u32 = 4;

/// Whether `password` is the one behind any of `hashes`.
pub fn is_any_of(password: &Password, hashes: &[String]) -> bool {
    hashes.iter().any(|hash| verify(password, hash))
}

fn verify(password: &Password, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

/// Who is calling, for role and application checks.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    /// The application signed in to.
    pub application: String,
    /// Every application the user is granted.
    pub grants: Vec<String>,
}

impl Caller {
    /// The applications whose payments and events this caller may see: an agent its own, a
    /// supervisor or a viewer every one granted.
    pub fn visible_applications(&self) -> Vec<String> {
        match self.role {
            Role::Supervisor | Role::Admin | Role::Viewer => self.grants.clone(),
            Role::Agent | Role::Api => vec![self.application.clone()],
        }
    }

    /// The events this caller's feed shows: security events for supervisors only.
    pub fn visibility(&self) -> Visibility {
        Visibility {
            applications: self.visible_applications(),
            security: self.role == Role::Supervisor,
        }
    }

    pub fn require(&self, allowed: &[Role], action: &str) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                action: action.to_owned(),
            })
        }
    }
}

/// Where a session is opened from, and the roles it lets in.
pub struct Door {
    pub roles: &'static [Role],
    /// What the roles it refuses may not do, for their message ("sign in to the console: …").
    pub action: &'static str,
}

/// `cip`, the terminal console: everyone but agency customer service, which has the staff pages.
pub const CONSOLE: Door = Door {
    roles: &[Role::Agent, Role::Supervisor, Role::Admin, Role::Api],
    action: "sign in to the console: a viewer uses the staff web view, /staff/",
};

/// `/staff/`, the web view of payments: agency customer service and supervisors.
pub const STAFF_PAGES: Door = Door {
    roles: &[Role::Viewer, Role::Supervisor],
    action: "sign in to the staff pages: they are for viewers and supervisors; agents use the console, and api users the agency API",
};

#[derive(Clone)]
struct CachedSession {
    caller: Caller,
    last_seen_ms: i64,
    persisted_ms: i64,
}

pub struct AuthSettings {
    pub max_failures: u32,
    pub lockout_ms: i64,
    pub idle_ms: i64,
    /// How long a password verified with argon2 is trusted from memory.
    pub verified_for_ms: i64,
}

pub struct Auth {
    store: Store,
    clock: Arc<dyn Clock>,
    entropy: Entropy,
    settings: AuthSettings,
    /// A hash to verify against when the user does not exist, so that costs the same.
    dummy_hash: String,
    sessions: Mutex<HashMap<[u8; 32], CachedSession>>,
    /// Per known user, the lock its sign-ins take turns on.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Passwords argon2 verified lately, under a keyed hash of user and password: the stored
    /// hash they matched and until when. A hit spares argon2 while that hash is still the
    /// user's; the user is still read every time, so a lockout or a new password counts at once.
    verified: Mutex<HashMap<[u8; 32], (String, i64)>>,
    verified_key: [u8; 32],
}

/// Verified passwords remembered at most; beyond this, expired ones are forgotten first.
const MAX_VERIFIED: usize = 10_000;

fn token_hash(token: &SessionToken) -> [u8; 32] {
    *blake3::hash(token.expose().as_bytes()).as_bytes()
}

impl Auth {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        entropy: Entropy,
        settings: AuthSettings,
    ) -> Result<Auth, String> {
        let dummy = Password::new(format!("{:032x}", entropy.next_u64()));
        let dummy_hash = hash_password(&dummy, &entropy)?;
        let verified_key = entropy.bytes::<32>();
        Ok(Auth {
            store,
            clock,
            entropy,
            settings,
            dummy_hash,
            sessions: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            verified_key,
        })
    }

    /// Checks application, user and password. A user's sign-ins are checked one at a time, each
    /// failure counted before the next begins, so parallel guesses cannot pass the lockout; every
    /// failure is audited and shown to supervisors; the answer never says which part was wrong.
    pub async fn authenticate(
        &self,
        application: &str,
        user: &str,
        password: Password,
        origin: &str,
    ) -> Result<Caller, ApiError> {
        let first = self.store.user(user).await?;
        let remembered = self.remembered(user, &password);
        if let Some(row) = first.as_ref().filter(|row| {
            remembered.as_deref() == Some(row.password_hash.as_str())
                && row.applications.iter().any(|a| a == application)
                && row
                    .locked_until_ms
                    .is_none_or(|until| until <= self.clock.now_ms())
        }) {
            // The right password: nothing to count, so no need to wait for the user's turn.
            return self.signed_in(row.clone(), application).await;
        }
        // Unknown users share no lock: their names are whatever was typed.
        let _turn = match first.is_some() {
            true => Some(self.user_turn(user).lock_owned().await),
            false => None,
        };
        let now = self.clock.now_ms();
        let row: Option<UserRow> = self.store.user(user).await?;
        let granted = row
            .as_ref()
            .is_some_and(|r| r.applications.iter().any(|a| a == application));
        // The application in the feed: the one named when the user may use it, else one the
        // user does use, so only supervisors of the user's own applications see it.
        let shown_app = match &row {
            Some(_) if granted => Some(application.to_owned()),
            Some(row) => row.applications.first().cloned(),
            None => None,
        };
        if let Some(row) = &row
            && let Some(until) = row.locked_until_ms.filter(|until| *until > now)
        {
            METRICS.sign_in_failed(SignInFailure::LockedOut, false);
            self.store
                .sign_in_failed(FailedSignIn {
                    entry: self.entry(user, "login", false, origin, format!("user:{user} locked")),
                    application: shown_app,
                    user: row.id.clone(),
                })
                .await?;
            return Err(ApiError::Locked {
                until_ms: until,
                until: calendar::local_minute(&jiff::tz::TimeZone::UTC, until),
            });
        }
        let hash = row
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |r| r.password_hash.clone());
        let key = self.verified_key(user, &password);
        let checked = hash.clone();
        let verified = tokio::task::spawn_blocking(move || verify(&password, &checked))
            .await
            .unwrap_or(false);
        if verified && row.is_some() {
            self.remember(key, hash, now);
        }
        let Some(row) = row else {
            METRICS.sign_in_failed(SignInFailure::UnknownUser, false);
            self.store
                .sign_in_failed(FailedSignIn {
                    entry: self.entry(user, "login", false, origin, format!("user:{user} unknown")),
                    application: None,
                    user: UNKNOWN_USER.to_owned(),
                })
                .await?;
            return Err(ApiError::BadCredentials);
        };
        if verified && granted {
            return self.signed_in(row, application).await;
        }
        let locked = self
            .store
            .count_failed_sign_in(
                FailedSignIn {
                    entry: self.entry(user, "login", false, origin, format!("user:{user}")),
                    application: shown_app,
                    user: row.id.clone(),
                },
                Lockout {
                    max_failures: self.settings.max_failures,
                    now_ms: now,
                    until_ms: now + self.settings.lockout_ms,
                },
            )
            .await?;
        METRICS.sign_in_failed(SignInFailure::WrongPassword, locked.is_some());
        Err(match locked {
            Some(until) => ApiError::Locked {
                until_ms: until,
                until: calendar::local_minute(&jiff::tz::TimeZone::UTC, until),
            },
            None => ApiError::BadCredentials,
        })
    }

    /// A user whose password was right: failures forgotten, the caller made.
    async fn signed_in(&self, row: UserRow, application: &str) -> Result<Caller, ApiError> {
        if row.failed_attempts > 0 {
            self.store.reset_failures(&row.id).await?;
        }
        Ok(Caller {
            user: row.id,
            role: row.role,
            application: application.to_owned(),
            grants: row.applications,
        })
    }

    fn verified_key(&self, user: &str, password: &Password) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.verified_key);
        hasher.update(user.as_bytes());
        hasher.update(&[0]);
        hasher.update(password.expose().as_bytes());
        *hasher.finalize().as_bytes()
    }

    /// The stored hash `password` was last verified against, if that was recent enough.
    fn remembered(&self, user: &str, password: &Password) -> Option<String> {
        let key = self.verified_key(user, password);
        let now = self.clock.now_ms();
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified
            .get(&key)
            .filter(|(_, until)| *until > now)
            .map(|(hash, _)| hash.clone())
    }

    fn remember(&self, key: [u8; 32], hash: String, now: i64) {
        if self.settings.verified_for_ms <= 0 {
            return;
        }
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, (_, until)| *until > now);
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(key, (hash, now + self.settings.verified_for_ms));
    }

    /// The lock that takes a user's sign-ins one at a time.
    fn user_turn(&self, user: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        if turns.len() >= MAX_TURNS {
            // Forget the locks nobody holds or waits for.
            turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        }
        Arc::clone(turns.entry(user.to_owned()).or_default())
    }

    /// Signs in and opens a session, for a user whose role is one of `door`'s (the console's,
    /// the staff pages'): another role is told where its door is, and no session opens.
    pub async fn login(
        &self,
        application: &str,
        user: &str,
        password: Password,
        origin: &str,
        door: &Door,
    ) -> Result<SessionInfo, ApiError> {
        let caller = self
            .authenticate(application, user, password, origin)
            .await?;
        caller.require(door.roles, door.action)?;
        let token = SessionToken::new(self.entropy.secret_hex());
        let hash = token_hash(&token);
        let now = self.clock.now_ms();
        let entry = self.entry(
            user,
            "login",
            true,
            origin,
            format!("application:{application}"),
        );
        self.store
            .open_session(&hash, &caller.user, &caller.application, &entry)
            .await?;
        let info = SessionInfo {
            token,
            user: caller.user.clone(),
            role: caller.role,
            application: caller.application.clone(),
            idle_timeout_ms: self.settings.idle_ms,
        };
        self.cache(
            hash,
            CachedSession {
                caller,
                last_seen_ms: now,
                persisted_ms: now,
            },
        );
        Ok(info)
    }

    pub async fn logout(&self, token: &SessionToken, origin: &str) -> Result<(), ApiError> {
        let caller = self.session(token).await?;
        let hash = token_hash(token);
        let entry = self.entry(
            &caller.user,
            "logout",
            true,
            origin,
            format!("application:{}", caller.application),
        );
        self.store.close_session(&hash, &entry).await?;
        // Forgotten after the end is committed: a check racing this one reads it ended.
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&hash);
        Ok(())
    }

    /// A supervisor lifts the lockout of a user who shares one of its applications.
    pub async fn unlock(&self, caller: &Caller, user: &str, origin: &str) -> Result<(), ApiError> {
        caller.require(&[Role::Supervisor], "unlock users")?;
        let target = self.store.user(user).await?;
        let shared = target.as_ref().and_then(|t| {
            t.applications
                .iter()
                .find(|a| caller.grants.contains(a))
                .cloned()
        });
        let Some(shared) = shared else {
            return Err(ApiError::NotFound {
                what: "user".to_owned(),
                id: user.to_owned(),
            });
        };
        let now = self.clock.now_ms();
        if target
            .and_then(|t| t.locked_until_ms)
            .is_none_or(|until| until <= now)
        {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "{user} is not locked out: they can sign in with their password as it is"
                ),
            });
        }
        let entry = self.entry(
            &caller.user,
            "user.unlock",
            true,
            origin,
            format!("user:{user}"),
        );
        self.store.unlock_user(user, Some(&shared), &entry).await?;
        Ok(())
    }

    /// How long a session may sit unused before it ends.
    pub fn idle_ms(&self) -> i64 {
        self.settings.idle_ms
    }

    /// The caller behind a session token; ends the session if it has been idle too long.
    pub async fn session(&self, token: &SessionToken) -> Result<Caller, ApiError> {
        self.check_session(token, true).await
    }

    /// The caller behind a session token, for calls a console makes by itself (the feed's long
    /// poll, the queue's refresh): they do not count as activity, so a console left watching
    /// still ends after the idle time.
    pub async fn watching(&self, token: &SessionToken) -> Result<Caller, ApiError> {
        self.check_session(token, false).await
    }

    async fn check_session(&self, token: &SessionToken, active: bool) -> Result<Caller, ApiError> {
        let hash = token_hash(token);
        let now = self.clock.now_ms();
        let cached = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .cloned();
        let from_cache = cached.is_some();
        let mut session = match cached {
            Some(session) => session,
            None => self.load_session(hash).await?,
        };
        if from_cache && self.store.shared() && now - session.last_seen_ms > self.settings.idle_ms {
            // Another daemon may have seen it used since: its last use is the store's.
            session = self.load_session(hash).await?;
        }
        if now - session.last_seen_ms > self.settings.idle_ms {
            self.sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&hash);
            let user = session.caller.user.clone();
            let entry = self.entry(
                &user,
                "session.expired",
                true,
                "cipd",
                format!("user:{user}"),
            );
            self.store.close_session(&hash, &entry).await?;
            return Err(ApiError::SessionExpired);
        }
        if active {
            session.last_seen_ms = session.last_seen_ms.max(now);
        }
        // Written back at most once a minute (every few seconds on a shared store); that write
        // also finds a session ended by another process (a password changed with `cipd user
        // passwd`, a sign-out on another daemon), so a cached one ends too, and reads back a
        // later use another daemon saw.
        let touch_every = match self.store.shared() {
            true => SHARED_TOUCH_EVERY_MS,
            false => TOUCH_EVERY_MS,
        };
        if now - session.persisted_ms >= touch_every && self.claim_touch(&hash, now, touch_every) {
            session.persisted_ms = now;
            let seen = session.last_seen_ms;
            let Some(stored) = self.store.touch_session(&hash, seen).await? else {
                self.sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&hash);
                return Err(ApiError::SessionExpired);
            };
            session.last_seen_ms = session.last_seen_ms.max(stored);
        }
        let caller = session.caller.clone();
        if from_cache {
            // Only while still there: a logout meanwhile must not be undone.
            if let Some(entry) = self
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&hash)
            {
                // Others may have checked it meanwhile: the later use and write are kept.
                *entry = CachedSession {
                    last_seen_ms: session.last_seen_ms.max(entry.last_seen_ms),
                    persisted_ms: session.persisted_ms.max(entry.persisted_ms),
                    ..session
                };
            }
        } else {
            self.cache(hash, session);
        }
        Ok(caller)
    }

    /// Whether this caller writes the session's last use back: the first to find it due, of
    /// the many that check one session at once, marks it written in the cache before it
    /// writes, so the others go on without waiting behind the same row.
    fn claim_touch(&self, hash: &[u8; 32], now: i64, touch_every: i64) -> bool {
        match self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(hash)
        {
            Some(cached) if now - cached.persisted_ms < touch_every => false,
            Some(cached) => {
                cached.persisted_ms = now;
                true
            }
            None => true,
        }
    }

    async fn load_session(&self, hash: [u8; 32]) -> Result<CachedSession, ApiError> {
        let found = self.store.session(&hash).await?;
        match found {
            Some((session, user)) if !session.ended => Ok(CachedSession {
                caller: Caller {
                    user: user.id,
                    role: user.role,
                    application: session.application,
                    grants: user.applications,
                },
                last_seen_ms: session.last_seen_ms,
                persisted_ms: session.last_seen_ms,
            }),
            _ => Err(ApiError::SessionExpired),
        }
    }

    fn cache(&self, hash: [u8; 32], session: CachedSession) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_CACHED_SESSIONS && !sessions.contains_key(&hash) {
            // Forget the longest idle; it is read back from the store when next used.
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen_ms)
                .map(|(k, _)| *k)
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(hash, session);
    }

    fn entry(
        &self,
        actor: &str,
        action: &'static str,
        success: bool,
        origin: &str,
        object: String,
    ) -> AuditEntry {
        AuditEntry {
            at_ms: self.clock.now_ms(),
            actor: actor.to_owned(),
            action,
            success,
            origin: origin.to_owned(),
            object,
        }
    }
}
