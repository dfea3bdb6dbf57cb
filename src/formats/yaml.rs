//! YAML loading shared by the formats: parse to a generic value and report errors with the file.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::error::OpError;

/// Reads `path` as one YAML document; a missing file is `None`, an empty one `Value::Null`.
pub fn load(path: &Path) -> Result<Option<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(OpError::config(format!("cannot read {}: {error}", path.display())).into());
        }
    };
    parse(&text, path).map(Some)
}

pub fn parse(text: &str, path: &Path) -> Result<Value> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|error| invalid(path, &error.to_string()))
}

/// Every document of a multi-document file.
pub fn parse_all(text: &str, path: &Path) -> Result<Vec<Value>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_saphyr::from_multiple::<Value>(text).map_err(|error| invalid(path, &error.to_string()))
}

fn invalid(path: &Path, error: &str) -> anyhow::Error {
    OpError::config(format!(
        "{}: invalid YAML: {}",
        path.display(),
        error.trim_end()
    ))
    .into()
}

/// A scalar as text the way the file spells it (`true`, `8080`); null is empty.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// The type name of a value, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
