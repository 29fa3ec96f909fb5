//! Kafka's consumer protocol subscription (the JoinGroup member metadata of groups with
//! protocol type `consumer`): the coordinator reads the topics members subscribe to, and the
//! native front-end writes and reads it to share groups with Kafka clients.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// ConsumerProtocolSubscription v0: the topics a member wants.
pub fn encode_subscription(topics: &[String]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(topics.len() as i32);
    for topic in topics {
        put_string(&mut out, topic);
    }
    out.put_i32(-1);
    out.freeze()
}

/// The topics of a ConsumerProtocolSubscription of any version (later fields are ignored);
/// `None` when the bytes are not one.
pub fn decode_subscription(mut buf: &[u8]) -> Option<Vec<String>> {
    if buf.remaining() < 6 {
        return None;
    }
    let _version = buf.get_i16();
    let count = usize::try_from(buf.get_i32()).ok()?;
    let mut topics = Vec::new();
    for _ in 0..count {
        topics.push(get_string(&mut buf)?);
    }
    Some(topics)
}

/// Writes a protocol string: `int16` length, then UTF-8.
pub fn put_string(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// A protocol string (`int16` length, then UTF-8) from the front of `buf`.
pub fn get_string(buf: &mut &[u8]) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = usize::try_from(buf.get_i16()).ok()?;
    let bytes = buf.get(..len)?;
    let s = String::from_utf8(bytes.to_vec()).ok()?;
    buf.advance(len);
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_round_trip_and_truncated_ones_are_refused() {
        let topics = vec!["a".to_string(), "b".to_string()];
        let bytes = encode_subscription(&topics);
        assert_eq!(decode_subscription(&bytes), Some(topics));
        assert_eq!(decode_subscription(&bytes[..bytes.len() - 6]), None);
        assert_eq!(decode_subscription(&[0, 1]), None);
        // A later version's extra fields (user data, owned partitions) are ignored.
        let mut v1 = bytes.to_vec();
        v1[1] = 1;
        v1.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(decode_subscription(&v1).unwrap().len(), 2);
    }
}
