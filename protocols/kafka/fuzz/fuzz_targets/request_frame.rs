//! Arbitrary bytes as a Kafka request frame body (after the length prefix): header and body
//! decoding at every API and version must return a request or an error, never panic, and
//! never allocate more than the input can justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = neo_kafka::decode_request(bytes::Bytes::copy_from_slice(data));
});
