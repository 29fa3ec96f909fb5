//! Changes of a queue cursor as they are written to the cursor log, and their encoding: a tag
//! byte, then big-endian fields; a group is a length (u32) and its bytes, or u32::MAX for none.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One change of a queue cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorEvent {
    /// Delivered, now `deliveries` times; with `lock`, held by its holder until its deadline
    /// across a change of leader too (else the hold ends with the leader).
    Acquired {
        offset: i64,
        deliveries: u32,
        lock: Option<Lock>,
    },
    /// A held record's lock now ends at `deadline` (SQS ChangeMessageVisibility).
    Deadline { offset: i64, deadline: i64 },
    /// Settled by its consumer.
    Acked { offset: i64 },
    /// Settled without delivery: expired, over the delivery limit, or rejected.
    Archived { offset: i64 },
    /// Available again.
    Released { offset: i64 },
    /// Everything below `up_to` settled (held records too with `in_flight`).
    Purged { up_to: i64, in_flight: bool },
    /// The whole cursor: replay starts from the last one.
    Snapshot {
        head: i64,
        entries: Vec<SnapshotEntry>,
    },
}

/// Who holds a record until when (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub holder: u64,
    pub deadline: i64,
}

/// An unsettled record in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub offset: i64,
    /// Held by a consumer when the snapshot was taken: replayed as held, so a purge of
    /// waiting records after the snapshot passes over it again.
    pub held: bool,
    /// The lock of a held record that outlives its leader.
    pub lock: Option<Lock>,
    pub deliveries: u32,
    pub available_at: i64,
    pub expires_at: Option<i64>,
    pub group: Option<Bytes>,
    /// Bytes of its value (queues limited by bytes count them).
    pub size: u32,
}

const ACQUIRED: u8 = 1;
const ACKED: u8 = 2;
const ARCHIVED: u8 = 3;
const RELEASED: u8 = 4;
const PURGED: u8 = 5;
const SNAPSHOT: u8 = 6;
const LOCKED: u8 = 7;
const DEADLINE: u8 = 8;
/// A snapshot entry's `held` byte: held with its lock (holder and deadline follow).
const HELD_LOCKED: u8 = 2;
const NONE: u32 = u32::MAX;

/// Why stored bytes are not a cursor event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor event: {0}")]
pub struct EventDecodeError(&'static str);

impl CursorEvent {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            CursorEvent::Acquired {
                offset,
                deliveries,
                lock,
            } => {
                out.put_u8(if lock.is_some() { LOCKED } else { ACQUIRED });
                out.put_i64(*offset);
                out.put_u32(*deliveries);
                if let Some(lock) = lock {
                    out.put_u64(lock.holder);
                    out.put_i64(lock.deadline);
                }
            }
            CursorEvent::Deadline { offset, deadline } => {
                out.put_u8(DEADLINE);
                out.put_i64(*offset);
                out.put_i64(*deadline);
            }
            CursorEvent::Acked { offset } => {
                out.put_u8(ACKED);
                out.put_i64(*offset);
            }
            CursorEvent::Archived { offset } => {
                out.put_u8(ARCHIVED);
                out.put_i64(*offset);
            }
            CursorEvent::Released { offset } => {
                out.put_u8(RELEASED);
                out.put_i64(*offset);
            }
            CursorEvent::Purged { up_to, in_flight } => {
                out.put_u8(PURGED);
                out.put_i64(*up_to);
                out.put_u8(u8::from(*in_flight));
            }
            CursorEvent::Snapshot { head, entries } => {
                out.put_u8(SNAPSHOT);
                out.put_i64(*head);
                out.put_u32(entries.len() as u32);
                for e in entries {
                    out.put_i64(e.offset);
                    match e.lock.filter(|_| e.held) {
                        Some(lock) => {
                            out.put_u8(HELD_LOCKED);
                            out.put_u64(lock.holder);
                            out.put_i64(lock.deadline);
                        }
                        None => out.put_u8(u8::from(e.held)),
                    }
                    out.put_u32(e.deliveries);
                    out.put_i64(e.available_at);
                    out.put_i64(e.expires_at.unwrap_or(i64::MIN));
                    out.put_u32(e.size);
                    match &e.group {
                        Some(g) => {
                            out.put_u32(g.len() as u32);
                            out.put_slice(g);
                        }
                        None => out.put_u32(NONE),
                    }
                }
            }
        }
        out.freeze()
    }

    pub fn decode(mut buf: Bytes) -> Result<CursorEvent, EventDecodeError> {
        let tag = take_u8(&mut buf)?;
        let event = match tag {
            ACQUIRED => CursorEvent::Acquired {
                offset: take_i64(&mut buf)?,
                deliveries: take_u32(&mut buf)?,
                lock: None,
            },
            LOCKED => CursorEvent::Acquired {
                offset: take_i64(&mut buf)?,
                deliveries: take_u32(&mut buf)?,
                lock: Some(take_lock(&mut buf)?),
            },
            DEADLINE => CursorEvent::Deadline {
                offset: take_i64(&mut buf)?,
                deadline: take_i64(&mut buf)?,
            },
            ACKED => CursorEvent::Acked {
                offset: take_i64(&mut buf)?,
            },
            ARCHIVED => CursorEvent::Archived {
                offset: take_i64(&mut buf)?,
            },
            RELEASED => CursorEvent::Released {
                offset: take_i64(&mut buf)?,
            },
            PURGED => CursorEvent::Purged {
                up_to: take_i64(&mut buf)?,
                in_flight: take_u8(&mut buf)? != 0,
            },
            SNAPSHOT => {
                let head = take_i64(&mut buf)?;
                let count = take_u32(&mut buf)? as usize;
                // An entry is at least 37 bytes: never reserve more than the bytes could hold.
                let mut entries = Vec::with_capacity(count.min(buf.remaining() / 37));
                for _ in 0..count {
                    let offset = take_i64(&mut buf)?;
                    let (held, lock) = match take_u8(&mut buf)? {
                        HELD_LOCKED => (true, Some(take_lock(&mut buf)?)),
                        held => (held != 0, None),
                    };
                    let deliveries = take_u32(&mut buf)?;
                    let available_at = take_i64(&mut buf)?;
                    let expires_at = Some(take_i64(&mut buf)?).filter(|t| *t != i64::MIN);
                    let size = take_u32(&mut buf)?;
                    let group = match take_u32(&mut buf)? {
                        NONE => None,
                        len if len as usize <= buf.remaining() => Some(buf.split_to(len as usize)),
                        _ => return Err(EventDecodeError("group longer than the event")),
                    };
                    entries.push(SnapshotEntry {
                        offset,
                        held,
                        lock,
                        deliveries,
                        available_at,
                        expires_at,
                        group,
                        size,
                    });
                }
                CursorEvent::Snapshot { head, entries }
            }
            _ => return Err(EventDecodeError("unknown tag")),
        };
        if buf.has_remaining() {
            return Err(EventDecodeError("bytes after the event"));
        }
        Ok(event)
    }
}

fn take_lock(buf: &mut Bytes) -> Result<Lock, EventDecodeError> {
    let holder = buf
        .try_get_u64()
        .map_err(|_| EventDecodeError("truncated"))?;
    Ok(Lock {
        holder,
        deadline: take_i64(buf)?,
    })
}

fn take_u8(buf: &mut Bytes) -> Result<u8, EventDecodeError> {
    buf.try_get_u8().map_err(|_| EventDecodeError("truncated"))
}

fn take_u32(buf: &mut Bytes) -> Result<u32, EventDecodeError> {
    buf.try_get_u32().map_err(|_| EventDecodeError("truncated"))
}

fn take_i64(buf: &mut Bytes) -> Result<i64, EventDecodeError> {
    buf.try_get_i64().map_err(|_| EventDecodeError("truncated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_and_every_prefix_is_refused() {
        let events = [
            CursorEvent::Acquired {
                offset: 7,
                deliveries: 2,
                lock: None,
            },
            CursorEvent::Acquired {
                offset: 7,
                deliveries: 3,
                lock: Some(Lock {
                    holder: 9,
                    deadline: 1_000,
                }),
            },
            CursorEvent::Deadline {
                offset: 7,
                deadline: 2_000,
            },
            CursorEvent::Acked { offset: 8 },
            CursorEvent::Archived { offset: 9 },
            CursorEvent::Released { offset: 10 },
            CursorEvent::Purged {
                up_to: 11,
                in_flight: true,
            },
            CursorEvent::Snapshot {
                head: 20,
                entries: vec![
                    SnapshotEntry {
                        offset: 12,
                        held: true,
                        lock: None,
                        deliveries: 1,
                        available_at: 5,
                        expires_at: Some(99),
                        group: Some(Bytes::from_static(b"g")),
                        size: 7,
                    },
                    SnapshotEntry {
                        offset: 13,
                        held: false,
                        lock: None,
                        deliveries: 0,
                        available_at: 0,
                        expires_at: None,
                        group: None,
                        size: 0,
                    },
                    SnapshotEntry {
                        offset: 14,
                        held: true,
                        lock: Some(Lock {
                            holder: 3,
                            deadline: 4,
                        }),
                        deliveries: 0,
                        available_at: 0,
                        expires_at: None,
                        group: None,
                        size: 0,
                    },
                ],
            },
        ];
        for event in events {
            let bytes = event.encode();
            assert_eq!(CursorEvent::decode(bytes.clone()).unwrap(), event);
            for cut in 0..bytes.len() {
                assert!(CursorEvent::decode(bytes.slice(..cut)).is_err());
            }
        }
    }
}
