//! Where a console reaches the daemon, and a tarpc client on a live connection there.

use crate::tls::{self, Failure};
use crate::wire::{CLIENT_MAX_FRAME_BYTES, json_transport};
use cip_common::service::CipClient;
use rustls::pki_types::ServerName;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a remote console waits to connect and finish its TLS handshake (the daemon's own
/// handshake timeout is as long).
const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects a tarpc client to the daemon's Unix socket, with the daemon's framing and format.
pub async fn connect(socket: &Path) -> Result<CipClient, ConnectError> {
    Endpoint::Socket(socket.to_path_buf())
        .open()
        .await
        .map(|attached| attached.client)
}

/// Why a console cannot talk to the daemon, said so that its user knows what to do.
/// The I/O error is part of each message, so it is a `cause`, not a `source` that an error chain
/// would print a second time.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "cipd is not answering on {}: {cause}: start it (cipd serve) or pass its --socket",
        socket.display()
    )]
    NoSocket {
        socket: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "cannot reach cipd at {address}: {cause}: check the address, and that the daemon \
         listens there (rpc.listen)"
    )]
    Unreachable {
        address: String,
        cause: std::io::Error,
    },
    #[error(
        "the daemon's certificate at {address} is not trusted by {} ({reason}): pass --ca the \
         CA file that signed the daemon's rpc.tls_cert",
        ca.display()
    )]
    Untrusted {
        address: String,
        ca: PathBuf,
        reason: String,
    },
    #[error(
        "the daemon at {address} refused this console's certificate ({reason}): pass --cert and \
         --key with a certificate signed by the daemon's rpc.client_ca"
    )]
    Refused { address: String, reason: String },
    #[error("the TLS connection to {address} failed: {cause}")]
    Tls {
        address: String,
        cause: std::io::Error,
    },
}

/// Why a remote daemon's address or files cannot be used, before any connection is tried.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0:?} is not HOST:PORT")]
    NotHostPort(String),
    #[error("{0:?} is not a host name or an IP address")]
    NotHost(String),
    #[error(transparent)]
    Tls(#[from] tls::SetupError),
}

/// Where a console reaches the daemon: its Unix socket, or its TLS listener (`rpc.listen`).
#[derive(Clone)]
pub enum Endpoint {
    Socket(PathBuf),
    Remote(Arc<Remote>),
}

/// The daemon's TLS listener and how this console proves and checks identities there.
pub struct Remote {
    /// `HOST:PORT`, as given.
    address: String,
    server_name: ServerName<'static>,
    ca: PathBuf,
    connector: tokio_rustls::TlsConnector,
}

impl Remote {
    /// Reads the CA file (and the console's certificate and key, when given) at once, so a
    /// bad file is named before any connection is tried.
    pub fn new(
        address: &str,
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Remote, RemoteError> {
        let host = address
            .rsplit_once(':')
            .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
            .filter(|host| !host.is_empty())
            .ok_or_else(|| RemoteError::NotHostPort(address.to_owned()))?;
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| RemoteError::NotHost(host.to_owned()))?;
        let config = tls::client_config(ca, identity)?;
        Ok(Remote {
            address: address.to_owned(),
            server_name,
            ca: ca.to_path_buf(),
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// What a failed TLS stream means to the person at the console.
    fn explain(&self, error: &std::io::Error) -> Option<ConnectError> {
        let address = self.address.clone();
        match tls::failure(error) {
            Failure::Untrusted(reason) => Some(ConnectError::Untrusted {
                address,
                ca: self.ca.clone(),
                reason: reason.to_string(),
            }),
            Failure::Refused(reason) => Some(ConnectError::Refused {
                address,
                reason: reason.to_string(),
            }),
            Failure::Other => None,
        }
    }
}

/// A client on a live connection.
pub struct Attached {
    pub client: CipClient,
    /// Ends when the connection does (the daemon stopped, the network failed); it tells why
    /// when a person can act on it (a daemon that refused this console's certificate).
    pub closed: tokio::task::JoinHandle<Option<ConnectError>>,
}

impl Endpoint {
    /// Opens a connection and starts its client.
    pub async fn open(&self) -> Result<Attached, ConnectError> {
        match self {
            Endpoint::Socket(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(|cause| ConnectError::NoSocket {
                        socket: socket.clone(),
                        cause,
                    })?;
                Ok(attach(stream, |_| None))
            }
            Endpoint::Remote(remote) => {
                let unreachable = |cause| ConnectError::Unreachable {
                    address: remote.address.clone(),
                    cause,
                };
                let handshake = async {
                    let tcp = tokio::net::TcpStream::connect(&remote.address)
                        .await
                        .map_err(unreachable)?;
                    // Each call leaves as soon as it is written, not after the last one's
                    // acknowledgement. A socket that refused would still carry the calls, only
                    // later, so the connection goes on either way.
                    let _ = tcp.set_nodelay(true);
                    remote
                        .connector
                        .connect(remote.server_name.clone(), tcp)
                        .await
                        .map_err(|cause| {
                            remote.explain(&cause).unwrap_or(ConnectError::Tls {
                                address: remote.address.clone(),
                                cause,
                            })
                        })
                };
                let stream = tokio::time::timeout(REMOTE_CONNECT_TIMEOUT, handshake)
                    .await
                    .map_err(|_| {
                        unreachable(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no answer in 10 seconds",
                        ))
                    })??;
                let remote = Arc::clone(remote);
                Ok(attach(stream, move |error| remote.explain(error)))
            }
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Socket(socket) => socket.display().fmt(f),
            Endpoint::Remote(remote) => remote.address.fmt(f),
        }
    }
}

/// Starts a client on `stream`; `explain` reads the error that ended it.
fn attach<S>(
    stream: S,
    explain: impl FnOnce(&std::io::Error) -> Option<ConnectError> + Send + 'static,
) -> Attached
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let tarpc::client::NewClient { client, dispatch } = CipClient::new(
        tarpc::client::Config::default(),
        json_transport(stream, CLIENT_MAX_FRAME_BYTES),
    );
    let closed = tokio::spawn(async move {
        use tarpc::ChannelError as E;
        match dispatch.await {
            Ok(()) => None,
            Err(E::Read(e) | E::Ready(e) | E::Write(e) | E::Flush(e) | E::Close(e)) => explain(&e),
        }
    });
    Attached { client, closed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_port_is_refused_before_any_file_is_read() {
        let refused = Remote::new("cip.example.gov", Path::new("/nowhere/ca.pem"), None)
            .err()
            .expect("no port");
        assert_eq!(refused.to_string(), "\"cip.example.gov\" is not HOST:PORT");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let refused = Remote::new("cip.example.gov:8443", Path::new("/nowhere/ca.pem"), None)
            .err()
            .expect("no CA file");
        assert!(
            matches!(
                refused,
                RemoteError::Tls(tls::SetupError::Certificates { .. })
            ),
            "{refused}"
        );
        assert!(refused.to_string().contains("/nowhere/ca.pem"), "{refused}");
    }
}
