//! Who is signed in: roles and the session a sign-in returns.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a successful sign-in returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub token: crate::secret::SessionToken,
    pub user: String,
    pub role: Role,
    pub application: String,
    pub idle_timeout_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
    Api,
    /// Agency customer service: reads and exports its applications' payments, nothing more.
    Viewer,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Api => "api",
            Role::Viewer => "viewer",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        [
            Role::Agent,
            Role::Supervisor,
            Role::Admin,
            Role::Api,
            Role::Viewer,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
