//! Arbitrary bytes as a stream of native frames, read the way a connection reads them (the
//! length checked against the frame limit, then each body decoded as its kind): every input
//! gives messages or an error, never a panic; every decoded message encodes back to a frame
//! that decodes to the same message.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use neo_native::wire::{FrameDecoder, Message};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new(64 * 1024);
    let mut input = BytesMut::from(data);
    for _ in 0..64 {
        let frame = match decoder.decode(&mut input) {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => break,
        };
        let Ok(message) = Message::decode(frame.header.kind, frame.body) else {
            continue;
        };
        let mut encoded = BytesMut::new();
        message.encode(frame.header.correlation, &mut encoded);
        let again = FrameDecoder::new(usize::MAX)
            .decode(&mut encoded)
            .expect("an encoded frame decodes")
            .expect("an encoded frame is whole");
        let decoded = Message::decode(again.header.kind, again.body).expect("round trip");
        assert_eq!(decoded, message);
    }
});
