//! Checks a text call's arguments against its tool's JSON schema, in the subset our
//! tools use: `type: object`, `properties` typed string/integer/number/boolean,
//! `required`, and `additionalProperties` (absent means no extra keys, as our tools'
//! argument structs `deny_unknown_fields`). Also writes a tool's one-line signature.

use serde_json::{Map, Value};

use crate::llm::ToolSpec;

/// The arguments, checked and lightly normalised, or what is wrong with them (a phrase
/// naming the key and the expected type).
pub(super) fn check(
    spec: &ToolSpec,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let schema = &spec.parameters;
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let extra_allowed = schema
        .get("additionalProperties")
        .is_some_and(|a| a.as_bool() != Some(false));
    let mut out = Map::new();
    for (key, value) in args {
        let Some(prop) = props.get(&key) else {
            if extra_allowed {
                out.insert(key, value);
                continue;
            }
            return Err(format!("it has no argument {key:?}"));
        };
        // Models write `"offset": null` for "not given"; the tools read it as absent too.
        if value.is_null() {
            continue;
        }
        let ty = prop.get("type").and_then(Value::as_str).unwrap_or("");
        let given = kind(&value);
        let value = coerce(ty, value)
            .ok_or_else(|| format!("{key:?} must be {}, not {given}", article(ty)))?;
        out.insert(key, value);
    }
    let required = schema.get("required").and_then(Value::as_array);
    for key in required.into_iter().flatten().filter_map(Value::as_str) {
        if !out.contains_key(key) {
            let ty = props
                .get(key)
                .and_then(|p| p.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("any");
            return Err(format!("{key:?} ({ty}) is required"));
        }
    }
    Ok(out)
}

/// `value` as a `ty`, or `None` if it is not one.
fn coerce(ty: &str, value: Value) -> Option<Value> {
    match (ty, value) {
        ("string", v @ Value::String(_))
        | ("boolean", v @ Value::Bool(_))
        | ("number", v @ Value::Number(_)) => Some(v),
        ("integer", Value::Number(n)) => {
            if n.is_i64() || n.is_u64() {
                Some(Value::Number(n))
            } else {
                // `5.0` is an integer to JSON Schema; the tools' serde wants `5`.
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| Value::from(f as i64))
            }
        }
        // Coercion: small models often quote numbers (`"limit": "5"`). A string of
        // ASCII digits (with an optional sign) is read as the integer it spells.
        ("integer", Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::from),
        ("string" | "integer" | "number" | "boolean", _) => None,
        // A type outside our subset (or none): not checked.
        (_, v) => Some(v),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn article(ty: &str) -> &'static str {
    match ty {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        _ => "of type",
    }
}

/// `read_file(path: string, limit?: integer, offset?: integer)`: required arguments
/// first, in their schema order, then the optional ones.
pub(super) fn signature(spec: &ToolSpec) -> String {
    let schema = &spec.parameters;
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let ty = |key: &str| {
        props
            .get(key)
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("any")
            .to_owned()
    };
    let mut params: Vec<String> = required.iter().map(|k| format!("{k}: {}", ty(k))).collect();
    params.extend(
        props
            .keys()
            .filter(|k| !required.contains(&k.as_str()))
            .map(|k| format!("{k}?: {}", ty(k))),
    );
    format!("{}({})", spec.name, params.join(", "))
}
