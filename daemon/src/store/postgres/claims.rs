//! Claims as session advisory locks on a connection each daemon keeps for them: the server ends
//! them with the session, so a daemon that dies leaves nothing held. A lost connection loses
//! the claims on it; the next claim opens another.

use super::NoTls;
use crate::store::StoreError;
use std::sync::Arc;
use tokio_postgres::Client;

pub(in crate::store) struct Claims {
    config: tokio_postgres::Config,
    session: tokio::sync::Mutex<Option<Arc<Client>>>,
}

/// A held claim, released on its session when dropped.
pub(in crate::store) struct Claim {
    session: Arc<Client>,
    name: String,
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
    pub(super) fn new(config: tokio_postgres::Config) -> Claims {
        Claims {
            config,
            session: tokio::sync::Mutex::new(None),
        }
    }

    /// The claims' connection, opened again if it was lost.
    async fn session(&self) -> Result<Arc<Client>, StoreError> {
        let mut session = self.session.lock().await;
        if let Some(open) = session.as_ref().filter(|s| !s.is_closed()) {
            return Ok(Arc::clone(open));
        }
        let (client, connection) = self.config.connect(NoTls).await?;
        // Runs until the client is dropped or the server goes away.
        tokio::spawn(connection);
        let client = Arc::new(client);
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
