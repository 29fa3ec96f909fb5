//! Receipt handles: opaque to clients, new on every receive. Each names the queue, the
//! record's offset and the receive (a random holder id the cursor knows the lock by).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::SqsError;

const VERSION: u8 = 1;
/// Version, offset and holder before the queue name.
const FIXED_LEN: usize = 1 + 8 + 8;

/// A decoded receipt handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptHandle {
    pub queue: String,
    pub offset: i64,
    /// The receive that took the lock.
    pub holder: u64,
}

impl ReceiptHandle {
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(FIXED_LEN + self.queue.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.offset.to_be_bytes());
        bytes.extend_from_slice(&self.holder.to_be_bytes());
        bytes.extend_from_slice(self.queue.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a handle given for `queue`.
    pub fn decode(text: &str, queue: &str) -> Result<ReceiptHandle, SqsError> {
        let invalid = || SqsError::ReceiptHandleIsInvalid(text.chars().take(1024).collect());
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| invalid())?;
        let (fixed, name) = bytes.split_at_checked(FIXED_LEN).ok_or_else(invalid)?;
        let (version, rest) = fixed.split_first().ok_or_else(invalid)?;
        let (offset, holder) = rest.split_at(8);
        if *version != VERSION || name != queue.as_bytes() {
            return Err(invalid());
        }
        let offset = i64::from_be_bytes(offset.try_into().map_err(|_| invalid())?);
        let holder = u64::from_be_bytes(holder.try_into().map_err(|_| invalid())?);
        if offset < 0 {
            return Err(invalid());
        }
        Ok(ReceiptHandle {
            queue: queue.to_string(),
            offset,
            holder,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn handles_round_trip_and_belong_to_their_queue() {
        let h = ReceiptHandle {
            queue: "jobs".into(),
            offset: 42,
            holder: 7,
        };
        assert_eq!(ReceiptHandle::decode(&h.encode(), "jobs").unwrap(), h);
        assert!(ReceiptHandle::decode(&h.encode(), "other").is_err());
        for bad in ["", "x", "!!!!", "AAAA"] {
            assert!(ReceiptHandle::decode(bad, "jobs").is_err());
        }
    }
}
