//! The TCP listeners here (agencies, metrics, the sandbox service, remote consoles): each
//! connection they accept sends an answer the moment it is written. With Nagle's algorithm on, the
//! tail of an answer could wait 30 to 40 ms for the client's delayed acknowledgement of its head
//! (README, "SQLite and PostgreSQL side by side", for what that cost).

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// `listener`, with `TCP_NODELAY` on every connection it accepts (axum still reads each
/// connection's address).
pub fn no_delay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(|connection| set_no_delay(connection))
}

/// `TCP_NODELAY` on a connection accepted by hand (remote consoles).
pub fn set_no_delay(connection: &TcpStream) {
    if let Err(e) = connection.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY not set on an accepted connection: {e}");
    }
}
