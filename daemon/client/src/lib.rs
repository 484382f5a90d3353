//! The connection to `cipd`, apart from the server: where a console reaches the daemon (its Unix
//! socket, or its TLS listener), the wire both ends speak, and why a connection fails, in words.
//! The daemon serves the same wire from here; nothing here depends on the daemon.

pub mod tls;
pub mod wire;

mod endpoint;

pub use endpoint::{Attached, ConnectError, Endpoint, Remote, RemoteError, connect};
