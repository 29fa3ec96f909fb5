//! What an action answers.

use serde_json::{Map, Value};

use crate::error::SqsError;

/// The result of an action, in the JSON protocol's shape.
pub type Output = Result<Map<String, Value>, SqsError>;
