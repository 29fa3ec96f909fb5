//! Arbitrary bytes as AMQP frames, read the way a connection reads them (header checked
//! against frame_max, then the whole frame decoded by amq-protocol): every input gives frames
//! or an error, never a panic, and nothing larger than frame_max is allocated.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let mut input = data;
        for _ in 0..64 {
            match neo_amqp::frames::read_frame(&mut input, 4096).await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    });
});
