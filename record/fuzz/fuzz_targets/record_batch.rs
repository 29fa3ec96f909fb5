//! Arbitrary bytes offered as a produce payload: header validation, the offset-delta walk, and
//! full record decoding (decompressing whatever codec the attributes name) must return an error
//! or a value, never panic, and never allocate past `MAX_DECOMPRESSED`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neo_record::batch_header;
use neo_record::codec::{check_offset_deltas, decode_records_with_limit};

fuzz_target!(|data: &[u8]| {
    if batch_header::validate(data).is_ok() {
        let _ = check_offset_deltas(data);
    }
    // Decoding does not require a valid CRC: exercise the record parser on everything.
    let _ = decode_records_with_limit(data, 1 << 20);
});
