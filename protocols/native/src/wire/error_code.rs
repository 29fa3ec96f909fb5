//! Error codes: a wire contract. A code is never reused; new codes go above the highest.

/// Why a request failed (or, with correlation id 0, why the connection is closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// A code this version does not know (from a newer peer).
    Unknown = 0,
    UnsupportedVersion = 1,
    MalformedFrame = 2,
    FrameTooLarge = 3,
    UnknownKind = 4,
    HandshakeRequired = 5,
    AuthenticationFailed = 6,
    UnknownTopicOrPartition = 10,
    TopicAlreadyExists = 11,
    InvalidTopic = 12,
    InvalidRecords = 13,
    OffsetOutOfRange = 14,
    UnknownSubscription = 15,
    InvalidRequest = 16,
    GroupError = 17,
    NoInstance = 20,
    Timeout = 21,
    HandlerError = 22,
    ShuttingDown = 30,
    Internal = 31,
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
