//! What `cipd init`, `cipd app …` and `cipd user …` do: administration straight on the database,
//! audited as the operator at the command line. A running daemon sees the changes at once.

use crate::auth::{PASSWORD_HISTORY, hash_password, is_any_of, password_problem};
use crate::clock::{Clock, Entropy, SystemClock};
use crate::report::batch::{self, BatchFile};
use crate::report::{Reports, Runner};
use crate::store::accounts::{AuditEntry, UserAdded, UserRow};
use crate::store::{Store, StoreError};
use anyhow::{Context, bail};
use cip_common::calendar;
use cip_common::form::{ApplicationSpec, demo_applications};
use cip_common::report::{Reconciliation, ReportFilter};
use cip_common::secret::Password;
use cip_common::session::Role;
use serde::Deserialize;
use std::sync::Arc;

pub const DEMO_USERS: &str = include_str!("../../assets/demo/users.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUser {
    pub id: String,
    pub role: Role,
    pub password: String,
    pub applications: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUsers {
    pub user: Vec<DemoUser>,
}

/// The operator at the command line, for the audit log.
pub struct Operator {
    pub actor: String,
    pub origin: String,
}

impl Operator {
    /// The account at the command line: on a server, where an administrator runs
    /// `sudo -u cip cipd …`, the one that ran sudo, so the audit log names the person rather
    /// than the service's account (both are only what the environment says, as before).
    pub fn from_env() -> Operator {
        let user = ["SUDO_USER", "USER"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok())
            .unwrap_or_else(|| "unknown".to_owned());
        Operator {
            actor: format!("cli:{user}"),
            origin: format!("cli pid={}", std::process::id()),
        }
    }

    fn runner(&self) -> Runner {
        Runner {
            actor: self.actor.clone(),
            origin: self.origin.clone(),
        }
    }

    fn entry(&self, action: &'static str, success: bool, object: String) -> AuditEntry {
        AuditEntry {
            at_ms: SystemClock.now_ms(),
            actor: self.actor.clone(),
            action,
            success,
            origin: self.origin.clone(),
            object,
        }
    }
}

pub struct Admin {
    pub store: Store,
    pub operator: Operator,
    pub entropy: Entropy,
}

fn user_id_problem(id: &str) -> Option<&'static str> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    (!ok).then_some("a user id is 1 to 64 letters, digits or - _ . @")
}

impl Admin {
    pub async fn add_application(&self, spec: ApplicationSpec) -> anyhow::Result<()> {
        let problems = spec.problems();
        if !problems.is_empty() {
            bail!("application {} refused: {}", spec.id, problems.join("; "));
        }
        let entry =
            self.operator
                .entry("application.add", true, format!("application:{}", spec.id));
        if !self.store.add_application(&spec, &entry).await? {
            bail!("application {} exists already", spec.id);
        }
        Ok(())
    }

    /// Audits what the operator did outside the database (a backup, a restore).
    pub async fn record(&self, action: &'static str, object: String) -> anyhow::Result<()> {
        let entry = self.operator.entry(action, true, object);
        self.store.audit(&entry).await?;
        Ok(())
    }

    /// The application `id`, or an error that says where to look.
    pub async fn application(&self, id: &str) -> anyhow::Result<ApplicationSpec> {
        self.applications()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .with_context(|| format!("no application {id}: see `cipd app list`"))
    }

    /// Writes the payments `filter` takes as CSV to `out` (see [`crate::report`]), audited.
    pub async fn export(
        &self,
        filter: &ReportFilter,
        out: Box<dyn std::io::Write + Send>,
    ) -> anyhow::Result<u64> {
        let spec = self.application(&filter.application).await?;
        Ok(self
            .reports()
            .export(spec, filter, out, &self.operator.runner())
            .await?)
    }

    /// Runs the application's batch report into `outbox` now.
    pub async fn run_batch(
        &self,
        application: &str,
        outbox: &std::path::Path,
    ) -> anyhow::Result<Vec<BatchFile>> {
        let spec = self.application(application).await?;
        batch::run(
            &self.store,
            &SystemClock,
            &self.entropy,
            &spec,
            outbox,
            &self.operator.runner(),
            None,
        )
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "another batch run of {application} is under way (here or on another daemon): \
                 try again when it ends"
            )
        })
    }

    /// The application's reconciliation of `day` (its local day), or of today.
    pub async fn reconcile(
        &self,
        application: &str,
        day: Option<jiff::civil::Date>,
    ) -> anyhow::Result<Reconciliation> {
        let spec = self.application(application).await?;
        let day =
            day.unwrap_or_else(|| cip_common::calendar::day_of(&spec.zone(), SystemClock.now_ms()));
        Ok(self.reports().reconcile(&spec, day).await?)
    }

    fn reports(&self) -> Reports {
        Reports::new(self.store.clone(), Arc::new(SystemClock))
    }

    pub async fn applications(&self) -> Result<Vec<ApplicationSpec>, StoreError> {
        self.store.applications().await
    }

    pub async fn add_user(
        &self,
        id: &str,
        role: Role,
        password: &Password,
        applications: Vec<String>,
    ) -> anyhow::Result<()> {
        if let Some(problem) = user_id_problem(id) {
            bail!("{problem}");
        }
        if let Some(problem) = password_problem(password.expose()) {
            bail!("{problem}: choose another");
        }
        let hash = hash_password(password, &self.entropy).map_err(anyhow::Error::msg)?;
        let entry = self
            .operator
            .entry("user.add", true, format!("user:{id} role:{role}"));
        let user = UserRow {
            id: id.to_owned(),
            role,
            password_hash: hash,
            failed_attempts: 0,
            locked_until_ms: None,
            applications,
        };
        match self.store.add_user(&user, &entry).await? {
            UserAdded::Added => Ok(()),
            UserAdded::Exists => bail!("user {id} exists already"),
            UserAdded::NoApplication(app) => {
                bail!("no application {app}: add it first with `cipd app add`")
            }
        }
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        self.store.users().await
    }

    pub async fn set_password(&self, id: &str, password: &Password) -> anyhow::Result<()> {
        if let Some(problem) = password_problem(password.expose()) {
            bail!("{problem}: choose another");
        }
        let recent = self
            .store
            .recent_password_hashes(id, PASSWORD_HISTORY)
            .await?;
        if is_any_of(password, &recent) {
            bail!("that is one of the last {PASSWORD_HISTORY} passwords of {id}: choose another");
        }
        let hash = hash_password(password, &self.entropy).map_err(anyhow::Error::msg)?;
        let entry = self
            .operator
            .entry("user.passwd", true, format!("user:{id}"));
        if !self.store.change_password(id, &hash, &entry).await? {
            bail!("no user {id}: see `cipd user list`");
        }
        Ok(())
    }

    pub async fn unlock(&self, id: &str) -> anyhow::Result<()> {
        let entry = self
            .operator
            .entry("user.unlock", true, format!("user:{id}"));
        if !self.store.unlock_user(id, None, &entry).await? {
            bail!("no user {id}: see `cipd user list`");
        }
        Ok(())
    }

    /// Loads the demo's applications and users; returns the users for printing.
    pub async fn load_demo(&self) -> anyhow::Result<Vec<DemoUser>> {
        let specs = demo_applications().context("the demo applications do not parse")?;
        for spec in specs {
            self.add_application(spec).await?;
        }
        let users: DemoUsers = toml::from_str(DEMO_USERS).context("the demo users do not parse")?;
        for user in &users.user {
            self.add_user(
                &user.id,
                user.role,
                &Password::new(user.password.clone()),
                user.applications.clone(),
            )
            .await?;
        }
        Ok(users.user)
    }
}

/// One line per user for `cipd user list`.
pub fn describe_user(user: &UserRow, now_ms: i64) -> String {
    let lock = match user.locked_until_ms {
        Some(until) if until > now_ms => format!(
            "  locked until {}",
            calendar::local_minute(&jiff::tz::TimeZone::UTC, until)
        ),
        _ if user.failed_attempts > 0 => format!("  {} failed sign-ins", user.failed_attempts),
        _ => String::new(),
    };
    format!(
        "{:<16} {:<10} {}{lock}",
        user.id,
        user.role.code(),
        user.applications.join(",")
    )
}
