//! The daemon's wire: length-delimited frames, each a JSON tarpc request, decoded as the daemon
//! reads them (`cip_common::frame::read_message`) from any bytes without a panic.
#![no_main]

use bytes::BytesMut;
use cip_common::service::CipRequest;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

fuzz_target!(|data: &[u8]| {
    let mut codec = LengthDelimitedCodec::builder()
        .max_frame_length(1 << 20)
        .new_codec();
    let mut buffer = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buffer) {
        let _ = cip_common::frame::read_message::<tarpc::ClientMessage<CipRequest>>(&frame);
    }
});
