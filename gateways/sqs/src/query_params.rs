//! Query-protocol parameters (`Attribute.1.Name=...`, `SendMessageBatchRequestEntry.2.Id=...`)
//! reshaped as the JSON protocol sends them, so one set of handlers serves both.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::SqsError;

/// Most indexed entries of one list or map accepted (batches have 10, attributes fewer).
const MAX_INDEX: u32 = 1000;

/// Flattened names holding a map: (query name, JSON name, key field).
const MAPS: &[(&str, &str, &str)] = &[
    ("Attribute", "Attributes", "Name"),
    ("MessageAttribute", "MessageAttributes", "Name"),
    ("MessageSystemAttribute", "MessageSystemAttributes", "Name"),
    ("Tag", "Tags", "Key"),
];

/// Flattened names holding a list of strings: (query name, JSON name).
const LISTS: &[(&str, &str)] = &[
    ("AttributeName", "AttributeNames"),
    ("MessageAttributeName", "MessageAttributeNames"),
    ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
    ("TagKey", "TagKeys"),
    ("AWSAccountId", "AWSAccountIds"),
    ("ActionName", "Actions"),
];

/// Reshapes form pairs into a JSON object.
pub fn query_to_json(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<Map<String, Value>, SqsError> {
    let pairs: Pairs = pairs
        .into_iter()
        .map(|(k, v)| (k.split('.').map(str::to_string).collect(), v))
        .collect();
    build(pairs)
}

/// Parameters as (name split at dots, value).
type Pairs = Vec<(Vec<String>, String)>;

fn build(pairs: Pairs) -> Result<Map<String, Value>, SqsError> {
    let mut groups: BTreeMap<String, Pairs> = BTreeMap::new();
    let mut out = Map::new();
    for (mut path, value) in pairs {
        if path.is_empty() {
            continue;
        }
        let head = path.remove(0);
        if path.is_empty() {
            out.insert(head, Value::String(value));
        } else {
            groups.entry(head).or_default().push((path, value));
        }
    }
    for (head, rest) in groups {
        if let Some((_, json_name, key_field)) = MAPS.iter().find(|(q, _, _)| *q == head) {
            let mut map = Map::new();
            for (_, entry) in indexed(rest)? {
                let entry = build(entry)?;
                let Some(Value::String(key)) = entry.get(*key_field) else {
                    continue;
                };
                let value = entry.get("Value").cloned().unwrap_or(Value::Null);
                map.insert(key.clone(), value);
            }
            out.insert((*json_name).to_string(), Value::Object(map));
        } else if let Some((_, json_name)) = LISTS.iter().find(|(q, _)| *q == head) {
            let items = indexed(rest)?
                .into_values()
                .filter_map(|mut entry| entry.pop().map(|(_, v)| Value::String(v)))
                .collect();
            out.insert((*json_name).to_string(), Value::Array(items));
        } else if head.ends_with("RequestEntry") {
            let items = indexed(rest)?
                .into_values()
                .map(|entry| build(entry).map(Value::Object))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert("Entries".to_string(), Value::Array(items));
        } else {
            out.insert(head, Value::Object(build(rest)?));
        }
    }
    Ok(out)
}

/// Groups `N.rest...` paths by their index N (1-based, in order).
fn indexed(pairs: Pairs) -> Result<BTreeMap<u32, Pairs>, SqsError> {
    let mut by_index: BTreeMap<u32, Pairs> = BTreeMap::new();
    for (mut path, value) in pairs {
        let Some(index) = path.first().and_then(|i| i.parse::<u32>().ok()) else {
            return Err(SqsError::MalformedRequest(format!(
                "Malformed list parameter index: {}",
                path.join(".")
            )));
        };
        if index == 0 || index > MAX_INDEX {
            return Err(SqsError::MalformedRequest(format!(
                "List parameter index {index} out of range"
            )));
        }
        path.remove(0);
        by_index.entry(index).or_default().push((path, value));
    }
    Ok(by_index)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn parse(s: &str) -> Value {
        Value::Object(query_to_json(form_urlencoded::parse(s.as_bytes()).into_owned()).unwrap())
    }

    #[test]
    fn attributes_become_a_map() {
        assert_eq!(
            parse(
                "QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&Attribute.2.Name=VisibilityTimeout&Attribute.2.Value=30"
            ),
            json!({"QueueName": "q", "Attributes": {"DelaySeconds": "5", "VisibilityTimeout": "30"}})
        );
    }

    #[test]
    fn batch_entries_with_message_attributes_become_objects() {
        assert_eq!(
            parse(
                "SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=y"
            ),
            json!({"Entries": [
                {"Id": "a", "MessageBody": "x", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
                {"Id": "b", "MessageBody": "y"}
            ]})
        );
    }

    #[test]
    fn name_lists_and_tags() {
        assert_eq!(
            parse(
                "AttributeName.1=All&MessageAttributeName.1=a.*&Tag.1.Key=env&Tag.1.Value=prod&TagKey.1=x"
            ),
            json!({"AttributeNames": ["All"], "MessageAttributeNames": ["a.*"], "Tags": {"env": "prod"}, "TagKeys": ["x"]})
        );
    }

    #[test]
    fn bad_indexes_are_refused() {
        for q in [
            "Attribute.x.Name=a",
            "Attribute.0.Name=a",
            "AttributeName.99999=a",
        ] {
            assert!(query_to_json(form_urlencoded::parse(q.as_bytes()).into_owned()).is_err());
        }
    }
}
