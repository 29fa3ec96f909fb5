//! Arbitrary HTTP requests to the SQS gateway's decoder: the first byte picks the headers
//! (JSON protocol with a target, Query protocol, a JSON content type without a target),
//! the rest splits at the first NUL into the target or path and the body. Every input gets
//! an SQS answer (a success or an error with a body), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neo_sqs::request::RawRequest;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (head, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&b""[..], rest),
    };
    let path = std::str::from_utf8(head).unwrap_or("/");
    let raw = RawRequest {
        path: if mode & 1 == 0 { "/" } else { path },
        query: (mode & 2 != 0).then_some(path),
        target: (mode & 4 != 0).then_some(head),
        content_type: (mode & 8 != 0).then_some(&b"application/x-amz-json-1.0"[..]),
        authorization: (mode & 16 != 0).then_some(head),
        body,
    };
    let reply = neo_sqs::validate::validate(&raw);
    assert!(reply.status == 200 || !reply.body.is_empty());
});
