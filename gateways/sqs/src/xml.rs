//! Query-protocol answers: a JSON-protocol result written as SQS's XML (flattened lists,
//! maps as `<Attribute><Name/><Value/></Attribute>` entries).

use std::fmt::Write;

use serde_json::{Map, Value};

/// SQS's XML namespace.
pub const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// `text` with XML's special characters escaped (and characters XML 1.0 cannot carry as
/// numeric references, which SQS's allowed set makes rare).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// The element name of each item of a list field.
fn member_name(field: &str, action: &str) -> String {
    match field {
        "QueueUrls" | "queueUrls" => "QueueUrl".into(),
        "Messages" => "Message".into(),
        "Successful" => format!("{action}ResultEntry"),
        "Failed" => "BatchResultErrorEntry".into(),
        "Results" => format!("{action}ResultEntry"),
        other => other.trim_end_matches('s').to_string(),
    }
}

/// Writes the fields of `object` as elements.
pub fn write_fields(out: &mut String, object: &Map<String, Value>, action: &str) {
    for (key, value) in object {
        match (key.as_str(), value) {
            (_, Value::Null) => {}
            (_, Value::Array(items)) => {
                let member = member_name(key, action);
                for item in items {
                    write_element(out, &member, item, action);
                }
            }
            ("Attributes" | "MessageAttributes" | "Tags", Value::Object(map)) => {
                let (entry, name) = match key.as_str() {
                    "Attributes" => ("Attribute", "Name"),
                    "MessageAttributes" => ("MessageAttribute", "Name"),
                    _ => ("Tag", "Key"),
                };
                for (k, v) in map {
                    let _ = write!(out, "<{entry}><{name}>{}</{name}>", escape(k));
                    write_element(out, "Value", v, action);
                    let _ = write!(out, "</{entry}>");
                }
            }
            (_, value) => write_element(out, key, value, action),
        }
    }
}

fn write_element(out: &mut String, name: &str, value: &Value, action: &str) {
    let _ = write!(out, "<{name}>");
    match value {
        Value::Object(map) => write_fields(out, map, action),
        Value::String(s) => out.push_str(&escape(s)),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Null | Value::Array(_) => {}
    }
    let _ = write!(out, "</{name}>");
}

/// Actions whose answer has no result element.
const NO_RESULT: &[&str] = &[
    "DeleteMessage",
    "DeleteQueue",
    "PurgeQueue",
    "SetQueueAttributes",
    "TagQueue",
    "UntagQueue",
    "ChangeMessageVisibility",
];

/// A whole `<Action>Response` document; the result element is there, empty or not, for
/// every action that has one (clients look for it).
pub fn response(action: &str, result: &Map<String, Value>, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<?xml version=\"1.0\"?><{action}Response xmlns=\"{NAMESPACE}\">"
    );
    if !result.is_empty() || !NO_RESULT.contains(&action) {
        let _ = write!(out, "<{action}Result>");
        write_fields(&mut out, result, action);
        let _ = write!(out, "</{action}Result>");
    }
    let _ = write!(
        out,
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    out
}

/// An `ErrorResponse` document.
pub fn error(code: &str, message: &str, sender: bool, request_id: &str) -> String {
    let kind = if sender { "Sender" } else { "Receiver" };
    format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(code),
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn fields(v: Value, action: &str) -> String {
        let Value::Object(map) = v else { panic!() };
        let mut out = String::new();
        write_fields(&mut out, &map, action);
        out
    }

    #[test]
    fn lists_are_flattened_and_maps_are_entries() {
        assert_eq!(
            fields(json!({"QueueUrls": ["a", "b<"]}), "ListQueues"),
            "<QueueUrl>a</QueueUrl><QueueUrl>b&lt;</QueueUrl>"
        );
        assert_eq!(
            fields(
                json!({"Attributes": {"DelaySeconds": "0"}}),
                "GetQueueAttributes"
            ),
            "<Attribute><Name>DelaySeconds</Name><Value>0</Value></Attribute>"
        );
        assert_eq!(
            fields(
                json!({"Messages": [{"Body": "x", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]}),
                "ReceiveMessage"
            ),
            "<Message><Body>x</Body><MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute></Message>"
        );
        assert_eq!(
            fields(
                json!({"Successful": [{"Id": "1"}], "Failed": []}),
                "DeleteMessageBatch"
            ),
            "<DeleteMessageBatchResultEntry><Id>1</Id></DeleteMessageBatchResultEntry>"
        );
    }

    #[test]
    fn empty_results_have_only_metadata() {
        assert_eq!(
            response("DeleteMessage", &Map::new(), "r"),
            format!(
                "<?xml version=\"1.0\"?><DeleteMessageResponse xmlns=\"{NAMESPACE}\"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteMessageResponse>"
            )
        );
    }
}
