//! Message attributes: typed values (String, Number, Binary, each with an optional custom
//! subtype) validated as SQS does, their MD5 as AWS computes it, and their form as record
//! headers (`sqs.attr.<name>` holds the value, `sqs.type.<name>` the data type).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use md5::{Digest, Md5};
use neo_record::codec::Header;

use crate::allowed_text::allowed_text;
use crate::error::SqsError;
use crate::params::Params;

/// Header prefix of an attribute's value.
pub const VALUE_PREFIX: &str = "sqs.attr.";
/// Header prefix of an attribute's data type.
pub const TYPE_PREFIX: &str = "sqs.type.";

/// Most message attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;

/// One attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeValue {
    pub data_type: String,
    /// The text of String and Number values, the bytes of Binary ones.
    pub value: Vec<u8>,
}

impl AttributeValue {
    /// Whether the value is Binary (transported as bytes).
    pub fn is_binary(&self) -> bool {
        self.data_type.starts_with("Binary")
    }

    /// Bytes counted against the maximum message size (name excluded).
    pub fn size(&self) -> usize {
        self.data_type.len() + self.value.len()
    }

    /// The value as the JSON protocol writes it (`BinaryValue` in base64).
    pub fn to_json(&self) -> serde_json::Value {
        if self.is_binary() {
            serde_json::json!({"DataType": self.data_type, "BinaryValue": BASE64.encode(&self.value)})
        } else {
            serde_json::json!({
                "DataType": self.data_type,
                "StringValue": String::from_utf8_lossy(&self.value),
            })
        }
    }
}

/// Reads and validates the attributes in `params[field]` (sorted by name).
pub fn parse(params: &Params<'_>, field: &str) -> Result<Vec<(String, AttributeValue)>, SqsError> {
    let entries = params.object_map(field)?;
    if entries.len() > MAX_ATTRIBUTES {
        return Err(SqsError::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            entries.len()
        )));
    }
    let mut out = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        check_name(name)?;
        out.push((name.to_string(), parse_value(name, &value)?));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn check_name(name: &str) -> Result<(), SqsError> {
    let lower = name.to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if valid {
        Ok(())
    } else {
        Err(SqsError::InvalidParameterValue(format!(
            "Message attribute name '{name}' is invalid: names contain alphanumerics, '_', '-' and '.', at most 256 characters, no leading, trailing or repeated '.', and no 'AWS.' or 'Amazon.' prefix."
        )))
    }
}

fn parse_value(name: &str, value: &Params<'_>) -> Result<AttributeValue, SqsError> {
    let data_type = value.str("DataType")?.ok_or_else(|| {
        SqsError::InvalidParameterValue(format!(
            "The message attribute '{name}' must contain non-empty message attribute type."
        ))
    })?;
    let base = data_type.split('.').next().unwrap_or_default();
    let custom_ok = data_type
        .get(base.len()..)
        .is_some_and(|rest| rest.is_empty() || (rest.len() > 1 && rest.len() <= 256));
    if !matches!(base, "String" | "Number" | "Binary") || !custom_ok {
        return Err(SqsError::InvalidParameterValue(format!(
            "The type of message attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        )));
    }
    let missing = || {
        SqsError::InvalidParameterValue(format!(
            "The message attribute '{name}' with type '{base}' must use field '{}'.",
            if base == "Binary" { "Binary" } else { "String" }
        ))
    };
    let bytes = if base == "Binary" {
        let text = value.str("BinaryValue")?.ok_or_else(missing)?;
        BASE64.decode(text.as_bytes()).map_err(|_| {
            SqsError::InvalidParameterValue(format!(
                "The message attribute '{name}' has an invalid base64 binary value."
            ))
        })?
    } else {
        let text = value.str("StringValue")?.ok_or_else(missing)?;
        if base == "Number" && !is_number(text) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        if !allowed_text(text) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message attribute '{name}' contains characters outside the allowed set."
            )));
        }
        text.as_bytes().to_vec()
    };
    if bytes.is_empty() {
        return Err(SqsError::InvalidParameterValue(format!(
            "Message attribute '{name}' must contain a non-empty value of type '{base}'."
        )));
    }
    Ok(AttributeValue {
        data_type: data_type.to_string(),
        value: bytes,
    })
}

/// SQS Number values: up to 38 digits of precision, between -10^128 and 10^126.
fn is_number(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty() && t.len() <= 200 && t.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The MD5 of attributes as AWS computes it: sorted by name, each as length-prefixed name,
/// length-prefixed type, a transport byte (1 text, 2 binary) and the length-prefixed value.
pub fn md5_of(attributes: &[(String, AttributeValue)]) -> String {
    let mut sorted: Vec<&(String, AttributeValue)> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut md5 = Md5::new();
    for (name, value) in sorted {
        length_prefixed(&mut md5, name.as_bytes());
        length_prefixed(&mut md5, value.data_type.as_bytes());
        md5.update([if value.is_binary() { 2u8 } else { 1u8 }]);
        length_prefixed(&mut md5, &value.value);
    }
    hex(&md5.finalize())
}

fn length_prefixed(md5: &mut Md5, bytes: &[u8]) {
    md5.update((bytes.len() as u32).to_be_bytes());
    md5.update(bytes);
}

/// The AWSTraceHeader system attribute, the only one SQS accepts.
pub fn parse_system(params: &Params<'_>) -> Result<Option<AttributeValue>, SqsError> {
    let mut trace = None;
    for (name, value) in params.object_map("MessageSystemAttributes")? {
        if name != "AWSTraceHeader" {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        let parsed = parse_value(name, &value)?;
        if parsed.data_type != "String" {
            return Err(SqsError::InvalidParameterValue(
                "The message system attribute 'AWSTraceHeader' must have the type String.".into(),
            ));
        }
        trace = Some(parsed);
    }
    Ok(trace)
}

/// The SHA-256 of `bytes` in hex (content-based deduplication ids).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&<sha2::Sha256 as Digest>::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The MD5 of a message body, in hex.
pub fn md5_of_body(body: &[u8]) -> String {
    hex(&Md5::digest(body))
}

/// The attributes as record headers.
pub fn to_headers(attributes: &[(String, AttributeValue)], headers: &mut Vec<Header>) {
    for (name, value) in attributes {
        headers.push(Header {
            key: format!("{VALUE_PREFIX}{name}"),
            value: Some(Bytes::copy_from_slice(&value.value)),
        });
        headers.push(Header {
            key: format!("{TYPE_PREFIX}{name}"),
            value: Some(Bytes::copy_from_slice(value.data_type.as_bytes())),
        });
    }
}

/// The attributes stored in `headers` (sorted by name). A value without a type header (a
/// record produced from Kafka) is a String.
pub fn from_headers(headers: &[Header]) -> Vec<(String, AttributeValue)> {
    let mut out: Vec<(String, AttributeValue)> = headers
        .iter()
        .filter_map(|h| {
            let name = h.key.strip_prefix(VALUE_PREFIX)?;
            let type_key = format!("{TYPE_PREFIX}{name}");
            let data_type = headers
                .iter()
                .find(|t| t.key == type_key)
                .and_then(|t| t.value.as_ref())
                .and_then(|v| std::str::from_utf8(v).ok())
                .unwrap_or("String")
                .to_string();
            Some((
                name.to_string(),
                AttributeValue {
                    data_type,
                    value: h.value.as_ref().map(|v| v.to_vec()).unwrap_or_default(),
                },
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn text(data_type: &str, value: &str) -> AttributeValue {
        AttributeValue {
            data_type: data_type.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn md5s_match_the_values_aws_computes() {
        // Body MD5 of "hello" and an attribute MD5 as the SDKs check them (computed with the
        // algorithm of the AWS SDK for Java's MessageMD5ChecksumHandler).
        assert_eq!(md5_of_body(b"hello"), "5d41402abc4b2a76b9719d911017c592");
        let attrs = vec![("a".to_string(), text("String", "b"))];
        let mut expected = Md5::new();
        expected.update([0, 0, 0, 1, b'a', 0, 0, 0, 6]);
        expected.update(b"String");
        expected.update([1, 0, 0, 0, 1, b'b']);
        assert_eq!(md5_of(&attrs), hex(&expected.finalize()));
    }

    #[test]
    fn attributes_round_trip_through_headers() {
        let attrs = vec![
            ("n".to_string(), text("Number.int", "5")),
            (
                "z".to_string(),
                AttributeValue {
                    data_type: "Binary".into(),
                    value: vec![0, 255],
                },
            ),
        ];
        let mut headers = Vec::new();
        to_headers(&attrs, &mut headers);
        assert_eq!(from_headers(&headers), attrs);
    }
}
