//! One frame of the wire between a console and the daemon, read as a message: JSON, refused
//! with an error, never a panic, whatever the bytes. tarpc adds the deadline a request carries
//! to the time now, and a deadline past what the clock holds would panic in that sum; such a
//! request is refused before tarpc reads it.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Error};

/// The longest deadline a request may carry (the console's are seconds).
const LONGEST_DEADLINE_S: u64 = 366 * 24 * 60 * 60;

/// Just the deadline of a request, if the frame is one; everything else is skipped.
#[derive(Deserialize)]
struct Peek {
    #[serde(rename = "Request")]
    request: Option<PeekRequest>,
}

#[derive(Deserialize)]
struct PeekRequest {
    context: Option<PeekContext>,
}

#[derive(Deserialize)]
struct PeekContext {
    deadline: Option<PeekDeadline>,
}

#[derive(Deserialize)]
struct PeekDeadline {
    secs: u64,
}

pub fn read_message<T: DeserializeOwned>(frame: &[u8]) -> Result<T, serde_json::Error> {
    let peek: Peek = serde_json::from_slice(frame)?;
    let deadline_s = peek
        .request
        .and_then(|r| r.context)
        .and_then(|c| c.deadline)
        .map_or(0, |d| d.secs);
    if deadline_s > LONGEST_DEADLINE_S {
        return Err(serde_json::Error::custom(format!(
            "a request's deadline is {deadline_s} s away; at most {LONGEST_DEADLINE_S} s"
        )));
    }
    serde_json::from_slice(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::CipRequest;

    type ClientMessage = tarpc::ClientMessage<CipRequest>;

    fn request(secs: &str) -> String {
        format!(
            r#"{{"Request": {{"context": {{"deadline": {{"secs": {secs}, "nanos": 0}},
                "trace_context": {{"trace_id": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                "span_id": 0,
                "sampling_decision": "Unsampled"}}}}, "id": 1,
                "message": {{"Login": {{"application": "DMV-RENEWAL", "user": "agent1",
                "password": "x"}}}}}}}}"#
        )
    }

    #[test]
    fn a_request_reads_and_one_whose_deadline_no_clock_holds_is_refused() {
        let read = read_message::<ClientMessage>(request("10").as_bytes());
        assert!(read.is_ok(), "{read:?}");
        let refused = read_message::<ClientMessage>(request("18446744073709551615").as_bytes())
            .expect_err("refused");
        assert!(refused.to_string().contains("deadline"), "{refused}");
        assert!(read_message::<ClientMessage>(b"[1, 2]").is_err());
    }
}
