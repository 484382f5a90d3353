//! How a daemon reaches its PostgreSQL server: the URL's settings, and TLS when the URL asks for
//! it (`sslmode=require`), the server's certificate verified against `[store] tls_ca`, or the
//! public roots without it. `sslmode=prefer` (the default) is taken as plain, as is a Unix
//! socket: a connection is encrypted to a server that proved who it is, or plainly not, never
//! encrypted to whoever answers.

use crate::store::StoreError;
use cip_client::tls::{provider, trust_anchors};
use std::path::Path;
use std::sync::Arc;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where the database is, and the TLS its connections use.
#[derive(Clone)]
pub(in crate::store) struct Server {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
}

/// rustls, for TCP hosts. A connection is set up for TLS before it is known whether it will
/// use it, and a Unix socket has no host name to check a certificate against: it is given one
/// that is never checked, as a connection over a socket is plain.
#[derive(Clone)]
pub(in crate::store) struct Tls(MakeRustlsConnect);

impl<S> MakeTlsConnect<S> for Tls
where
    MakeRustlsConnect: MakeTlsConnect<S>,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<Self::TlsConnect, Self::Error> {
        self.0
            .make_tls_connect(if host.is_empty() { "localhost" } else { host })
    }
}

/// A database's server, as `Store::connect` is told it.
#[derive(Clone, Copy, Debug)]
pub struct Database<'a> {
    /// `postgres://user@host/db` or `host=… dbname=…`.
    pub url: &'a str,
    /// The CA the server's certificate is signed by, for `sslmode=require`.
    pub tls_ca: Option<&'a Path>,
}

impl Server {
    pub(in crate::store) fn new(database: Database<'_>) -> Result<Server, StoreError> {
        let mut config: tokio_postgres::Config = database
            .url
            .parse()
            .map_err(|e| StoreError::Setup(format!("[store] url is not a PostgreSQL URL: {e}")))?;
        super::passfile::fill_in(&mut config, super::passfile::path())?;
        let over_tcp = config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_)));
        if !over_tcp || config.get_ssl_mode() != SslMode::Require {
            config.ssl_mode(SslMode::Disable);
        }
        let roots = match database.tls_ca {
            Some(ca) => {
                trust_anchors(ca).map_err(|e| StoreError::Setup(format!("[store] tls_ca: {e}")))?
            }
            None => Arc::new(rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Setup(format!("TLS to the database: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Server {
            config,
            tls: Tls(MakeRustlsConnect::new(tls)),
        })
    }

    /// A connection of its own; its driver runs until the client is dropped.
    pub(in crate::store) async fn connect(&self) -> Result<tokio_postgres::Client, StoreError> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(connection);
        Ok(client)
    }
}
