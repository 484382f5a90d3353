//! The wire both ends speak: length-delimited frames, each a JSON message, over a Unix socket
//! or a TLS stream alike. The daemon serves it from here, so the two ends cannot drift apart.

use bytes::{Bytes, BytesMut};
use std::marker::PhantomData;
use std::pin::Pin;
use tarpc::tokio_serde::{Deserializer, Serializer};
use tarpc::tokio_util::codec::LengthDelimitedCodec;

/// Largest frame a client accepts from the daemon: a page of payments or a batch of events.
pub const CLIENT_MAX_FRAME_BYTES: usize = 16 << 20;

/// The wire: length-delimited frames of at most `max_frame` bytes, each a JSON message, over a
/// Unix socket or a TLS stream alike.
pub fn json_transport<S, Item, SinkItem>(
    stream: S,
    max_frame: usize,
) -> tarpc::serde_transport::Transport<S, Item, SinkItem, JsonFrames<Item, SinkItem>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let framed = LengthDelimitedCodec::builder()
        .max_frame_length(max_frame)
        .new_framed(stream);
    tarpc::serde_transport::new(framed, JsonFrames(PhantomData))
}

/// Each frame a JSON message, read by [`cip_common::frame::read_message`], which refuses what
/// would make tarpc panic.
pub struct JsonFrames<Item, SinkItem>(PhantomData<(Item, SinkItem)>);

impl<Item, SinkItem> Deserializer<Item> for JsonFrames<Item, SinkItem>
where
    Item: for<'de> serde::Deserialize<'de>,
{
    type Error = serde_json::Error;

    fn deserialize(self: Pin<&mut Self>, src: &BytesMut) -> Result<Item, Self::Error> {
        cip_common::frame::read_message(src)
    }
}

impl<Item, SinkItem: serde::Serialize> Serializer<SinkItem> for JsonFrames<Item, SinkItem> {
    type Error = serde_json::Error;

    fn serialize(self: Pin<&mut Self>, item: &SinkItem) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(item).map(Into::into)
    }
}
