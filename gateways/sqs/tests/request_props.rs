//! Property tests of request decoding: arbitrary bodies, headers and Query parameters in
//! either protocol always get an SQS answer (a well-formed error with a 4xx status or a
//! success), never a panic.

#![allow(clippy::unwrap_used)]

use neo_sqs::request::RawRequest;
use neo_sqs::validate::validate;
use proptest::prelude::*;

/// Query parameter names shaped like SQS's flattened ones, with odd indexes and fields.
fn query_key() -> impl Strategy<Value = String> {
    let heads = prop::sample::select(vec![
        "Action",
        "QueueUrl",
        "QueueName",
        "MessageBody",
        "DelaySeconds",
        "Attribute",
        "MessageAttribute",
        "MessageSystemAttribute",
        "AttributeName",
        "MessageAttributeName",
        "Tag",
        "TagKey",
        "SendMessageBatchRequestEntry",
        "DeleteMessageBatchRequestEntry",
        "ReceiptHandle",
        "MaxNumberOfMessages",
        "VisibilityTimeout",
        "MessageGroupId",
        "MessageDeduplicationId",
        "Id",
    ]);
    let tails = prop::collection::vec(
        prop_oneof![
            Just("1".to_string()),
            Just("0".to_string()),
            Just("99999999999".to_string()),
            Just("Name".to_string()),
            Just("Value".to_string()),
            Just("Key".to_string()),
            Just("DataType".to_string()),
            Just("StringValue".to_string()),
            Just("BinaryValue".to_string()),
            Just("MessageBody".to_string()),
            Just("Id".to_string()),
            "[a-zA-Z0-9.]{0,6}",
        ],
        0..5,
    );
    (heads, tails).prop_map(|(h, t)| {
        std::iter::once(h.to_string())
            .chain(t)
            .collect::<Vec<_>>()
            .join(".")
    })
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("SendMessage".to_string()),
        Just("SendMessageBatch".to_string()),
        Just("CreateQueue".to_string()),
        Just("String".to_string()),
        Just("Number".to_string()),
        Just("Binary".to_string()),
        Just("AAAA".to_string()),
        Just("true".to_string()),
        "\\PC{0,12}",
        "[0-9-]{0,22}",
    ]
}

fn check(raw: &RawRequest<'_>) {
    let reply = validate(raw);
    assert!(
        reply.status == 200 || (400..600).contains(&reply.status),
        "{}",
        reply.status
    );
    if reply.status != 200 {
        assert!(!reply.body.is_empty());
        if reply.content_type.contains("json") {
            let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            assert!(value["__type"].is_string());
            assert!(reply.query_error.is_some());
        } else {
            let text = std::str::from_utf8(&reply.body).unwrap();
            assert!(text.contains("<ErrorResponse"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_in_either_protocol(
        body in prop::collection::vec(any::<u8>(), 0..512),
        target in prop::option::of("\\PC{0,40}"),
        json in any::<bool>(),
        path in "(/[a-z0-9]{0,12}){0,3}",
    ) {
        let content_type = if json { Some(&b"application/x-amz-json-1.0"[..]) } else { None };
        check(&RawRequest {
            path: &path,
            query: None,
            target: target.as_deref().map(str::as_bytes),
            content_type,
            authorization: None,
            body: &body,
        });
    }

    #[test]
    fn shaped_query_parameters(pairs in prop::collection::vec((query_key(), query_value()), 0..24)) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter())
            .finish();
        check(&RawRequest { path: "/", query: None, target: None, content_type: None, authorization: None, body: body.as_bytes() });
    }

    #[test]
    fn shaped_json_bodies(value in arbitrary_json(3)) {
        let body = serde_json::to_vec(&value).unwrap();
        for target in ["AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch", "AmazonSQS.CreateQueue", "AmazonSQS.ReceiveMessage"] {
            check(&RawRequest { path: "/", query: None, target: Some(target.as_bytes()), content_type: None, authorization: None, body: &body });
        }
    }
}

/// JSON objects with SQS's field names and values of any JSON type.
fn arbitrary_json(depth: u32) -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "\\PC{0,16}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("String")),
        Just(serde_json::Value::from("Binary")),
    ];
    leaf.prop_recursive(depth, 64, 8, |inner| {
        let names = prop::sample::select(vec![
            "MessageBody",
            "MessageAttributes",
            "DataType",
            "StringValue",
            "BinaryValue",
            "Entries",
            "Id",
            "Attributes",
            "DelaySeconds",
            "MessageGroupId",
            "ReceiptHandle",
            "QueueName",
            "tags",
            "MaxNumberOfMessages",
            "MessageSystemAttributes",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(names, inner, 0..6).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}
