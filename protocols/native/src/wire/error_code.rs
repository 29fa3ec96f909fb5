//! Error codes: a wire contract. A code is never reused; new codes go above the highest.

/// Why a request failed (or, with correlation id 0, why the connection is closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// A code this version does not know (from a newer peer).
    Unknown = 0,
    /// No common version, or a frame of a version not negotiated.
    UnsupportedVersion = 1,
    /// A frame or body that does not parse.
    MalformedFrame = 2,
    /// A length over the frame limit.
    FrameTooLarge = 3,
    /// A kind this version does not know.
    UnknownKind = 4,
    /// The first frame was not Hello.
    HandshakeRequired = 5,
    /// The authentication hook refused the Hello.
    AuthenticationFailed = 6,
    /// No such topic or partition.
    UnknownTopicOrPartition = 10,
    /// A topic of that name exists.
    TopicAlreadyExists = 11,
    /// A topic name the broker does not accept.
    InvalidTopic = 12,
    /// Records refused (not a valid batch, CRC, topic configs, producer sequence).
    InvalidRecords = 13,
    /// An offset outside the log.
    OffsetOutOfRange = 14,
    /// No subscription with that id.
    UnknownSubscription = 15,
    /// A request that cannot be served as asked.
    InvalidRequest = 16,
    /// The group coordinator refused.
    GroupError = 17,
    /// RPC: no live instance serves the method.
    NoInstance = 20,
    /// RPC: no reply in time.
    Timeout = 21,
    /// RPC: the handler failed.
    HandlerError = 22,
    /// The broker is stopping.
    ShuttingDown = 30,
    /// A broker failure (storage).
    Internal = 31,
    /// The broker's ACLs refuse the client the operation.
    AccessDenied = 32,
    /// Another broker leads the partition (or none does, during an election): ask Metadata
    /// where it is led and send it there.
    NotLeader = 33,
    /// An idempotent producer's batch the partition has had for longer than it remembers
    /// batches: appended once already, at offsets no longer known.
    DuplicateSequence = 34,
    /// An idempotent producer's batch whose sequence does not follow the last appended one
    /// (an earlier batch has not arrived yet).
    OutOfOrderSequence = 35,
}

impl ErrorCode {
    /// From the wire; unknown codes become [`ErrorCode::Unknown`].
    pub fn from_u16(code: u16) -> ErrorCode {
        use ErrorCode::*;
        match code {
            1 => UnsupportedVersion,
            2 => MalformedFrame,
            3 => FrameTooLarge,
            4 => UnknownKind,
            5 => HandshakeRequired,
            6 => AuthenticationFailed,
            10 => UnknownTopicOrPartition,
            11 => TopicAlreadyExists,
            12 => InvalidTopic,
            13 => InvalidRecords,
            14 => OffsetOutOfRange,
            15 => UnknownSubscription,
            16 => InvalidRequest,
            17 => GroupError,
            20 => NoInstance,
            21 => Timeout,
            22 => HandlerError,
            30 => ShuttingDown,
            31 => Internal,
            32 => AccessDenied,
            33 => NotLeader,
            34 => DuplicateSequence,
            35 => OutOfOrderSequence,
            _ => Unknown,
        }
    }

    /// The code on the wire.
    pub fn as_u16(self) -> u16 {
        self as u16
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_round_trips() {
        for code in 0..=u16::from(u8::MAX) {
            let known = ErrorCode::from_u16(code);
            if known != ErrorCode::Unknown {
                assert_eq!(known.as_u16(), code);
            }
        }
    }
}
