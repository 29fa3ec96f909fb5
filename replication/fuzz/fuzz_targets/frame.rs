//! Arbitrary bytes as a cluster connection's stream, read the way each side reads it (frame
//! length checked against the limit before anything is allocated, then the body decoded as a
//! request or a response): every frame decodes to a message or an error, never a panic, and a
//! decoded message encodes to a frame that decodes and encodes to the same bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use neo_replication::transport::frame::FrameCodec;
use neo_replication::transport::message::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

const MAX_FRAME_BYTES: usize = 1 << 20;

fn read_all<T: Serialize + DeserializeOwned>(data: &[u8]) {
    let codec = FrameCodec::new(MAX_FRAME_BYTES);
    let mut buf = BytesMut::from(data);
    while let Ok(Some((correlation, message))) = codec.decode::<T>(&mut buf) {
        let mut encoded = BytesMut::new();
        codec.encode(correlation, &message, &mut encoded).unwrap();
        let again = encoded.clone().freeze();
        let (same_correlation, decoded) = codec.decode::<T>(&mut encoded).unwrap().unwrap();
        assert_eq!(same_correlation, correlation);
        assert!(encoded.is_empty());
        let mut reencoded = BytesMut::new();
        codec.encode(correlation, &decoded, &mut reencoded).unwrap();
        assert_eq!(reencoded.freeze(), again);
    }
}

fuzz_target!(|data: &[u8]| {
    read_all::<Request>(data);
    read_all::<Response>(data);
});
