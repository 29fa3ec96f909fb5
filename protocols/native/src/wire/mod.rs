//! The wire format, free of sockets: frames, their bodies, and error codes.

mod body;
mod decode;
mod encode;
mod error_code;
mod frame;
mod message;
#[cfg(test)]
mod message_tests;

pub use body::BodyError;
pub use error_code::ErrorCode;
pub use frame::{
    FRAME_HEADER_LEN, Frame, FrameDecoder, FrameError, FrameHeader, LENGTH_PREFIX_LEN,
    MAX_FRAME_BYTES_DEFAULT, PROTOCOL_VERSION, encode_frame,
};
pub use message::{
    BrokerInfo, GroupInfo, Kind, Message, PartitionInfo, QueueRecord, ServiceInfo, StartAt,
    TopicInfo, TopicLeaders, ack_level_from_u8,
};
