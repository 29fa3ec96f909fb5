//! Decoding and validating a request as far as it can go without a queue: the sans-I/O
//! path every request takes before a handler touches the broker. The fuzz target and the
//! property tests drive it with arbitrary input.

use crate::error::SqsError;
use crate::message::NewMessage;
use crate::params::Params;
use crate::queue_attributes::QueueAttributes;
use crate::receipt_handle::ReceiptHandle;
use crate::request::{RawRequest, Request, parse, protocol_of};
use crate::response::{Reply, failure, success};

/// Parses `raw` and validates its messages, attributes and receipt handles as a standard
/// and as a FIFO queue with default attributes would; returns the answer a request that
/// fails here gets (or an empty success).
pub fn validate(raw: &RawRequest<'_>) -> Reply {
    match parse(raw).and_then(|r| check(&r).map(|()| r)) {
        Ok(request) => success(request.protocol, &request.action, &Default::default(), "id"),
        Err(e) => failure(protocol_of(raw), &e, "id"),
    }
}

fn check(request: &Request) -> Result<(), SqsError> {
    let params = Params(&request.params);
    let attributes = params.string_map("Attributes")?;
    let fifo = attributes.get("FifoQueue").is_some_and(|v| v == "true");
    let queue = QueueAttributes::create(fifo, &attributes)?;
    let mut entries = params.objects("Entries")?;
    entries.push(params);
    for entry in entries {
        if entry.str("MessageBody")?.is_some() {
            NewMessage::parse(&entry, &queue, fifo)?;
        }
        if let Some(handle) = entry.str("ReceiptHandle")? {
            ReceiptHandle::decode(handle, "q")?;
        }
        entry.int_in("VisibilityTimeout", 0, 43_200)?;
    }
    params.int_in("MaxNumberOfMessages", 1, 10)?;
    params.int_in("WaitTimeSeconds", 0, 20)?;
    params.string_list("AttributeNames")?;
    params.string_list("MessageAttributeNames")?;
    params.string_list("TagKeys")?;
    params.string_map("Tags")?;
    Ok(())
}
