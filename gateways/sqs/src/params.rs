//! Typed access to a request's parameters, with SQS's errors for missing and malformed ones.
//! Numbers are accepted as JSON numbers or as text (the Query protocol sends only text).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::SqsError;

/// The parameters of one request (or of one batch entry).
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a Map<String, Value>);

impl<'a> Params<'a> {
    /// A text parameter, if given.
    pub fn str(&self, name: &str) -> Result<Option<&'a str>, SqsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(SqsError::invalid_value(name, other, "must be a string")),
        }
    }

    /// A text parameter that must be given.
    pub fn required_str(&self, name: &str) -> Result<&'a str, SqsError> {
        self.str(name)?
            .ok_or_else(|| SqsError::MissingParameter(name.to_string()))
    }

    /// An integer parameter, if given.
    pub fn int(&self, name: &str) -> Result<Option<i64>, SqsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| SqsError::invalid_value(name, n, "must be an integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| SqsError::invalid_value(name, s, "must be an integer")),
            Some(other) => Err(SqsError::invalid_value(name, other, "must be an integer")),
        }
    }

    /// An integer parameter within `min..=max`, if given.
    pub fn int_in(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, SqsError> {
        match self.int(name)? {
            Some(v) if v < min || v > max => Err(SqsError::invalid_value(
                name,
                v,
                &format!("Must be between {min} and {max}, if provided."),
            )),
            v => Ok(v),
        }
    }

    /// A map of text to text (queue attributes, tags).
    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, SqsError> {
        let Some(value) = self.0.get(name) else {
            return Ok(BTreeMap::new());
        };
        let Value::Object(map) = value else {
            return Err(SqsError::invalid_value(
                name,
                "(not a map)",
                "must be a map",
            ));
        };
        map.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(SqsError::invalid_value(
                    &format!("{name}.{k}"),
                    v,
                    "must be a string",
                )),
            })
            .collect()
    }

    /// A list of text (attribute names, tag keys).
    pub fn string_list(&self, name: &str) -> Result<Vec<String>, SqsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(SqsError::invalid_value(name, other, "must be strings")),
                })
                .collect(),
            Some(other) => Err(SqsError::invalid_value(name, other, "must be a list")),
        }
    }

    /// The objects of a list (batch entries).
    pub fn objects(&self, name: &str) -> Result<Vec<Params<'a>>, SqsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Object(map) => Ok(Params(map)),
                    other => Err(SqsError::invalid_value(name, other, "must be objects")),
                })
                .collect(),
            Some(other) => Err(SqsError::invalid_value(name, other, "must be a list")),
        }
    }

    /// The object of a map entry's value, by key, in order (message attributes).
    pub fn object_map(&self, name: &str) -> Result<Vec<(&'a str, Params<'a>)>, SqsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::Object(inner) => Ok((k.as_str(), Params(inner))),
                    other => Err(SqsError::invalid_value(
                        &format!("{name}.{k}"),
                        other,
                        "must be an object",
                    )),
                })
                .collect(),
            Some(other) => Err(SqsError::invalid_value(name, other, "must be a map")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_come_as_numbers_or_text() {
        let v = json!({"a": 5, "b": "7", "c": "x", "d": 1.5});
        let Value::Object(map) = v else { panic!() };
        let p = Params(&map);
        assert_eq!(p.int("a").unwrap(), Some(5));
        assert_eq!(p.int("b").unwrap(), Some(7));
        assert!(p.int("c").is_err());
        assert!(p.int("d").is_err());
        assert_eq!(p.int("missing").unwrap(), None);
        assert!(p.int_in("a", 0, 4).is_err());
    }
}
