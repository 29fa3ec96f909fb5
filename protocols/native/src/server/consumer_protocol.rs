//! Kafka's consumer protocol (the bytes consumer-group members exchange through JoinGroup and
//! SyncGroup): a native group member speaks it so that it can share a group with Kafka
//! clients, and assigns partitions when it is the leader. The subscription is the group
//! coordinator's ([`neo_broker::groups::consumer_protocol`]); the assignment is the members'.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use neo_broker::groups::consumer_protocol::{get_string, put_string};

/// The assignors a native member offers, in order of preference (librdkafka's defaults).
pub(crate) const ASSIGNORS: [&str; 2] = ["range", "roundrobin"];

/// ConsumerProtocolAssignment v0: partitions by topic.
pub(crate) fn encode_assignment(assigned: &BTreeMap<String, Vec<i32>>) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(assigned.len() as i32);
    for (topic, partitions) in assigned {
        put_string(&mut out, topic);
        out.put_i32(partitions.len() as i32);
        for p in partitions {
            out.put_i32(*p);
        }
    }
    out.put_i32(-1);
    out.freeze()
}

/// The partitions of `topic` in a ConsumerProtocolAssignment of any version.
pub(crate) fn decode_assignment(mut buf: &[u8], topic: &str) -> Option<Vec<i32>> {
    if buf.is_empty() {
        return Some(Vec::new());
    }
    if buf.remaining() < 6 {
        return None;
    }
    let _version = buf.get_i16();
    let count = usize::try_from(buf.get_i32()).ok()?;
    let mut mine = Vec::new();
    for _ in 0..count {
        let name = get_string(&mut buf)?;
        if buf.remaining() < 4 {
            return None;
        }
        let n = usize::try_from(buf.get_i32()).ok()?;
        if buf.remaining() < n.saturating_mul(4) {
            return None;
        }
        for _ in 0..n {
            let p = buf.get_i32();
            if name == topic {
                mine.push(p);
            }
        }
    }
    mine.sort_unstable();
    Some(mine)
}

/// The leader's assignment: for each member (sorted by id), the partitions of the topics it
/// subscribed to, by `assignor` ("roundrobin", otherwise range).
pub(crate) fn assign(
    assignor: &str,
    members: &[(String, Vec<String>)],
    partition_counts: &BTreeMap<String, i32>,
) -> Vec<(String, Bytes)> {
    let mut sorted: Vec<&(String, Vec<String>)> = members.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut assigned: BTreeMap<&str, BTreeMap<String, Vec<i32>>> = sorted
        .iter()
        .map(|(id, _)| (id.as_str(), BTreeMap::new()))
        .collect();
    for (topic, count) in partition_counts {
        let wanting: Vec<&str> = sorted
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(id, _)| id.as_str())
            .collect();
        if wanting.is_empty() {
            continue;
        }
        let n = wanting.len() as i32;
        for partition in 0..*count {
            let owner = if assignor == "roundrobin" {
                partition % n
            } else {
                // Range: contiguous runs, the first members taking one extra.
                let (per, extra) = (count / n, count % n);
                let mut owner = 0;
                let mut start = 0;
                for m in 0..n {
                    let size = per + i32::from(m < extra);
                    if partition < start + size {
                        owner = m;
                        break;
                    }
                    start += size;
                }
                owner
            };
            if let Some(member) = wanting.get(owner as usize)
                && let Some(map) = assigned.get_mut(member)
            {
                map.entry(topic.clone()).or_default().push(partition);
            }
        }
    }
    assigned
        .into_iter()
        .map(|(id, map)| (id.to_string(), encode_assignment(&map)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_round_trip() {
        let mut map = BTreeMap::new();
        map.insert("a".to_string(), vec![2, 0]);
        map.insert("b".to_string(), vec![1]);
        let bytes = encode_assignment(&map);
        assert_eq!(decode_assignment(&bytes, "a"), Some(vec![0, 2]));
        assert_eq!(decode_assignment(&bytes, "c"), Some(vec![]));
        assert_eq!(decode_assignment(&bytes[..5], "a"), None);
    }

    #[test]
    fn range_and_roundrobin_split_every_partition_once() {
        let members = vec![
            ("m2".to_string(), vec!["t".to_string()]),
            ("m1".to_string(), vec!["t".to_string()]),
        ];
        let counts = BTreeMap::from([("t".to_string(), 5)]);
        let range = assign("range", &members, &counts);
        let of = |v: &[(String, Bytes)], id: &str| {
            let bytes = &v.iter().find(|(m, _)| m == id).unwrap().1;
            decode_assignment(bytes, "t").unwrap()
        };
        assert_eq!(of(&range, "m1"), vec![0, 1, 2]);
        assert_eq!(of(&range, "m2"), vec![3, 4]);
        let rr = assign("roundrobin", &members, &counts);
        assert_eq!(of(&rr, "m1"), vec![0, 2, 4]);
        assert_eq!(of(&rr, "m2"), vec![1, 3]);
    }
}
