//! Claims as session advisory locks on a connection each daemon keeps for them: the server ends
//! them with the session, so a daemon that dies leaves nothing held. A lost connection loses
//! the claims on it (a holder asks [`Claim::lost`] before each step it must not share); the
//! next claim opens another. TCP keepalives on it find a server gone silent within
//! [`SILENT_FOR`], as the server finds a silent daemon.

use super::server::Server;
use crate::store::StoreError;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Client;

/// How long the claims' connection may hear nothing from the server before it is taken as lost.
const SILENT_FOR: Duration = Duration::from_secs(10);

pub(in crate::store) struct Claims {
    server: Server,
    session: tokio::sync::Mutex<Option<Arc<Client>>>,
}

/// A held claim, released on its session when dropped.
pub(in crate::store) struct Claim {
    session: Arc<Client>,
    name: String,
}

impl Claim {
    /// Whether the session the claim was held on has ended, and the claim with it.
    pub(in crate::store) fn lost(&self) -> bool {
        self.session.is_closed()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Without a runtime the process is ending, and the session with it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (session, name) = (Arc::clone(&self.session), std::mem::take(&mut self.name));
        runtime.spawn(async move {
            // A failure means the session is gone, and the claim with it.
            let _ = session
                .execute(
                    "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                    &[&name],
                )
                .await;
        });
    }
}

impl Claims {
    pub(super) fn new(mut server: Server) -> Claims {
        server
            .config
            .keepalives(true)
            .keepalives_idle(SILENT_FOR / 2)
            .keepalives_interval(SILENT_FOR / 10)
            .keepalives_retries(5);
        Claims {
            server,
            session: tokio::sync::Mutex::new(None),
        }
    }

    /// The claims' connection, opened again if it was lost.
    async fn session(&self) -> Result<Arc<Client>, StoreError> {
        let mut session = self.session.lock().await;
        if let Some(open) = session.as_ref().filter(|s| !s.is_closed()) {
            return Ok(Arc::clone(open));
        }
        let client = Arc::new(self.server.connect().await?);
        *session = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Claims `name`, or `None` while another session holds it.
    pub(in crate::store) async fn claim(&self, name: String) -> Result<Option<Claim>, StoreError> {
        let session = self.session().await?;
        let held: bool = session
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&name],
            )
            .await?
            .try_get(0)?;
        Ok(held.then_some(Claim { session, name }))
    }
}
