//! The TCP listeners of the HTTP servers here (agencies, metrics, the sandbox service): each
//! connection they accept sends an answer the moment it is written. With Nagle's algorithm on, the
//! tail of an answer could wait for the client's delayed acknowledgement of its head, 30 to 40 ms:
//! one client in gateway mode on PostgreSQL made 103 payments/s with a p95 of 33 ms, and makes
//! 495/s with a p95 of 3 ms without it (`cipd bench --store …`, http-1).

use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// `listener`, with `TCP_NODELAY` on every connection it accepts (axum still reads each
/// connection's address).
pub fn no_delay(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_no_delay)
}

fn set_no_delay(connection: &mut TcpStream) {
    if let Err(e) = connection.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY not set on an accepted connection: {e}");
    }
}
