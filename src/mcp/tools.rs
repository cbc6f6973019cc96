//! A server's `tools/list` turned into what the model is offered: filtered by the
//! config's allow/deny globs, checked (the input schema must be a JSON Schema of type
//! `object`), named `{server}__{tool}` within the characters providers accept, and given
//! their effective approval. Tools that cannot be offered are skipped with a reason the
//! user sees in `mcp list`.

use std::collections::BTreeSet;

use super::{Approval, McpTool};
use crate::config::McpServerConfig;

/// Longest tool name providers accept (OpenAI, Anthropic: `^[a-zA-Z0-9_-]{1,64}$`).
pub const MAX_QUALIFIED: usize = 64;

/// `{server}__{name}` with every character outside `[a-zA-Z0-9_-]` replaced by `_`, cut
/// to [`MAX_QUALIFIED`] characters.
pub fn qualify(server: &str, name: &str) -> String {
    format!("{server}__{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_QUALIFIED)
        .collect()
}

/// The offered tools and, for each tool left out, why.
pub struct Listed {
    pub tools: Vec<McpTool>,
    pub skipped: Vec<String>,
}

/// Converts one server's listed tools.
pub fn convert(cfg: &McpServerConfig, listed: Vec<rmcp::model::Tool>) -> Listed {
    let mut tools = Vec::with_capacity(listed.len());
    let mut skipped = Vec::new();
    let mut seen = BTreeSet::new();
    for t in listed {
        let name = t.name.to_string();
        if !cfg.tools.admits(&name) {
            continue;
        }
        let schema = serde_json::Value::Object((*t.input_schema).clone());
        if let Err(why) = check_schema(&schema) {
            skipped.push(format!("tool {name:?} skipped: its inputSchema {why}"));
            continue;
        }
        let qualified = qualify(&cfg.name, &name);
        if !seen.insert(qualified.clone()) {
            skipped.push(format!(
                "tool {name:?} skipped: its name becomes {qualified:?}, as another tool's does"
            ));
            continue;
        }
        let read_only = t
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        let approval = cfg
            .approvals
            .get(&name)
            .copied()
            .or(cfg.approval)
            .unwrap_or(if read_only {
                Approval::Allow
            } else {
                Approval::Ask
            });
        let description = t
            .description
            .as_deref()
            .map(str::to_owned)
            .or_else(|| t.title.clone())
            .unwrap_or_default();
        tools.push(McpTool {
            server: cfg.name.clone(),
            name,
            qualified,
            description,
            input_schema: schema,
            read_only,
            approval,
        });
    }
    Listed { tools, skipped }
}

/// Whether a tool's input schema can be sent to a provider as function parameters.
fn check_schema(schema: &serde_json::Value) -> Result<(), String> {
    match schema.get("type") {
        Some(serde_json::Value::String(t)) if t == "object" => {}
        Some(other) => return Err(format!("has type {other}, not \"object\"")),
        None => return Err("has no \"type\": \"object\"".into()),
    }
    match schema.get("properties") {
        None | Some(serde_json::Value::Object(_)) => Ok(()),
        Some(_) => Err("has \"properties\" that is not an object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn cfg(toml_text: &str) -> McpServerConfig {
        toml::from_str(&format!("name = \"srv\"\ncommand = \"x\"\n{toml_text}")).unwrap()
    }

    fn tool(name: &str, schema: serde_json::Value, read_only: Option<bool>) -> rmcp::model::Tool {
        let serde_json::Value::Object(obj) = schema else {
            panic!("schema must be an object here")
        };
        let mut t = rmcp::model::Tool::new(name.to_owned(), "does things", Arc::new(obj));
        if let Some(r) = read_only {
            t.annotations = Some(rmcp::model::ToolAnnotations::new().read_only(r));
        }
        t
    }

    #[test]
    fn names_are_sanitised_and_cut() {
        assert_eq!(qualify("fs", "read.file"), "fs__read_file");
        assert_eq!(qualify("fs", "é"), "fs___");
        let long = qualify("fs", &"x".repeat(100));
        assert_eq!(long.len(), MAX_QUALIFIED);
    }

    #[test]
    fn filter_schema_clash_and_approval() {
        let obj = serde_json::json!({"type": "object", "properties": {}});
        let c = cfg("tools = { deny = [\"hidden\"] }\napprovals = { write = \"deny\" }\n");
        let got = convert(
            &c,
            vec![
                tool("read", obj.clone(), Some(true)),
                tool("write", obj.clone(), None),
                tool("other", obj.clone(), None),
                tool("hidden", obj.clone(), None),
                tool("bad", serde_json::json!({"type": "string"}), None),
                tool("a.b", obj.clone(), None),
                tool("a_b", obj, None),
            ],
        );
        let names: Vec<(&str, Approval)> = got
            .tools
            .iter()
            .map(|t| (t.qualified.as_str(), t.approval))
            .collect();
        assert_eq!(
            names,
            vec![
                ("srv__read", Approval::Allow),
                ("srv__write", Approval::Deny),
                ("srv__other", Approval::Ask),
                ("srv__a_b", Approval::Ask),
            ]
        );
        assert_eq!(got.skipped.len(), 2, "{:?}", got.skipped);
        assert!(got.skipped[0].contains("\"bad\"") && got.skipped[0].contains("not \"object\""));
        assert!(got.skipped[1].contains("\"a_b\""), "{:?}", got.skipped);
    }
}
