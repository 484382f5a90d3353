//! The wire both ends speak: length-delimited frames, each a JSON message, over a Unix socket
//! or a TLS stream alike. The daemon serves it from here, so the two ends cannot drift apart.

use tarpc::tokio_serde::formats::Json;
use tarpc::tokio_util::codec::LengthDelimitedCodec;

/// Largest frame a client accepts from the daemon: a page of payments or a batch of events.
pub const CLIENT_MAX_FRAME_BYTES: usize = 16 << 20;

/// The wire: length-delimited frames of at most `max_frame` bytes, each a JSON message, over a
/// Unix socket or a TLS stream alike.
pub fn json_transport<S, Item, SinkItem>(
    stream: S,
    max_frame: usize,
) -> tarpc::serde_transport::Transport<S, Item, SinkItem, Json<Item, SinkItem>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(max_frame)
        .new_framed(stream);
    tarpc::serde_transport::new(framed, Json::default())
}
